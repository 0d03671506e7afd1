"""Batched, compiled kinematics of one arm: forward kinematics and the controller's own IK step.

The twins' controller (:class:`~cosmos3_gym.sim.controller.EEDeltaController`) turns each commanded TCP
pose into joint targets with a few damped-least-squares iterations clipped to the joint limits
(:class:`~cosmos3_gym.sim.ik.SiteIK`, one ``MjData`` per arm, one environment at a time). A learned
simulator needs the same step for hundreds of states at once, ~50k times a second, so this module reads the
arm's kinematic chain out of the ``MjModel`` once (fixed body offsets, hinge and slide joints, the site) and
runs FK, the site Jacobian and the DLS iterations in numba-compiled loops: the same arithmetic as MuJoCo's
``mj_kinematics`` / ``mj_jacSite`` (to ~1e-12 m), without a Python call per environment.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numba
import numpy as np

_BODY, _HINGE, _SLIDE, _SHIFT = 0, 1, 2, 3
_MJ_HINGE, _MJ_SLIDE = int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)


def quat_mat(q: np.ndarray) -> np.ndarray:
    out = np.zeros(9)
    mujoco.mju_quat2Mat(out, q / np.linalg.norm(q))
    return out.reshape(3, 3)


class ArmChain:
    """The kinematic chain from the world to ``site`` with ``joints`` as the IK variables; every other joint
    on the chain (e.g. a waist) keeps its value in the given ``qpos``. Joint types: hinge and slide."""

    def __init__(
        self, model: mujoco.MjModel, site: str, joints: Sequence[str], damping: float = 0.05, iterations: int = 3
    ) -> None:
        sid = model.site(site).id
        var = {model.joint(j).id: k for k, j in enumerate(joints)}
        bodies = []
        b = int(model.site_bodyid[sid])
        while b != 0:
            bodies.append(b)
            b = int(model.body_parentid[b])
        # Elements root → site: a fixed body offset (pos, rot), or a joint (axis, anchor in the body frame).
        els: list[list] = []
        for b in reversed(bodies):
            pos, rot = model.body_pos[b].copy(), quat_mat(model.body_quat[b])
            if els and els[-1][0] == _BODY:  # consecutive fixed offsets compose into one
                pos, rot = els[-1][1] + els[-1][2] @ pos, els[-1][2] @ rot
                els.pop()
            els.append([_BODY, pos, rot, np.zeros(3), 0, 0.0, -1])
            for j in range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b]):
                jt = int(model.jnt_type[j])
                if jt not in (_MJ_HINGE, _MJ_SLIDE):
                    raise ValueError(f"joint {model.joint(j).name!r}: the arm chain supports hinge and slide joints")
                adr = int(model.jnt_qposadr[j])
                kind = _HINGE if jt == _MJ_HINGE else _SLIDE
                els.append([kind, model.jnt_axis[j].copy(), np.eye(3), model.jnt_pos[j].copy(), adr,
                            float(model.qpos0[adr]), var.pop(j, -1)])  # fmt: skip
        if var:
            names = [model.joint(j).name for j in var]
            raise ValueError(f"joints {names} are not on the chain from the world to site {site!r}")
        self.site_pos, self.site_mat = model.site_pos[sid].copy(), quat_mat(model.site_quat[sid])
        if els[-1][0] == _BODY:  # fixed offsets after the last joint fold into the site's
            _, pos, rot = els.pop()[:3]
            self.site_pos, self.site_mat = pos + rot @ self.site_pos, rot @ self.site_mat
        # A joint and the fixed offset after it become one element: rot · Rⱼ(θ) · R_b is rot · (R_b + sin θ K R_b
        # + (1 − cos θ) K² R_b) with K R_b and K² R_b precomputed (K: the cross product with the unit axis),
        # and the next frame's origin the joint's anchor plus rot · Rⱼ(θ) (p_b − anchor), likewise.
        kind, v3, m3, qadr, qpos0, var_of = [], [], [], [], [], []
        for e, (k, vec, mat, anchor, adr, q0, v) in enumerate(els):
            if k == _BODY and e > 0 and els[e - 1][0] != _BODY:
                continue  # folded into the joint before it
            if k == _BODY:  # a leading fixed offset; a pure translation needs no rotation product
                post_pos, post_rot = vec, mat
                k = _SHIFT if np.array_equal(mat, np.eye(3)) else _BODY
            elif e + 1 < len(els) and els[e + 1][0] == _BODY:
                post_pos, post_rot = els[e + 1][1], els[e + 1][2]
            else:  # another joint on the same body follows
                post_pos, post_rot = np.zeros(3), np.eye(3)
            w = post_pos - anchor
            cross = np.array([[0.0, -vec[2], vec[1]], [vec[2], 0.0, -vec[0]], [-vec[1], vec[0], 0.0]])
            kind.append(k), qadr.append(adr), qpos0.append(q0), var_of.append(v)
            v3.append([vec, anchor, post_pos, w, cross @ w, cross @ cross @ w])
            m3.append([post_rot, cross @ post_rot, cross @ cross @ post_rot])
        #: Elements before the first IK variable do not move during IK: computed once per state.
        self.split = next((e for e, v in enumerate(var_of) if v >= 0), len(var_of))
        ids = [model.joint(j).id for j in joints]
        self.kind, self.qadr_el = np.array(kind, np.int64), np.array(qadr, np.int64)
        self.v3, self.m3 = np.array(v3, float), np.array(m3, float)
        self.qpos0, self.var = np.array(qpos0), np.array(var_of, np.int64)
        #: qpos addresses of the IK variables, in ``joints`` order.
        self.qadr = np.array([model.jnt_qposadr[j] for j in ids], np.int64)
        self.low = np.array([model.jnt_range[j, 0] if model.jnt_limited[j] else -np.inf for j in ids])
        self.high = np.array([model.jnt_range[j, 1] if model.jnt_limited[j] else np.inf for j in ids])
        self.slide = np.array([int(model.jnt_type[j]) == _MJ_SLIDE for j in ids])
        self.damping, self.iterations = float(damping), int(iterations)

    def _args(self) -> tuple:
        return self.kind, self.v3, self.m3, self.qadr_el, self.qpos0, self.var, self.site_pos, self.site_mat

    def forward(self, qpos: np.ndarray) -> np.ndarray:
        """Site poses ``(N, 4, 4)`` (world frame) of joint positions ``qpos (N, ≥ max address + 1)``."""
        q = np.ascontiguousarray(qpos, dtype=np.float64)
        return _fk_batch(q, *self._args(), len(self.qadr))

    def solve(self, qpos: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The controller's IK step from ``qpos (N, nq)`` toward ``target (N, 4, 4)``: ``iterations`` DLS
        steps, each clipped to the joint limits, as :meth:`SiteIK.solve` does. Returns (the arm's joint
        targets ``(N, k)`` in ``joints`` order, the site poses they reach ``(N, 4, 4)``)."""
        q = np.array(qpos, dtype=np.float64, order="C", copy=True)
        t = np.ascontiguousarray(target, dtype=np.float64)
        limits = (self.low, self.high, self.damping**2, self.iterations)
        pose = _ik_batch(q, t, *self._args(), self.split, self.qadr, self.slide, *limits)
        return q[:, self.qadr], pose


@numba.njit(cache=True, inline="always")
def _mul(a, b, out):
    """``out ← a @ b`` for 3×3 matrices (``out`` is neither)."""
    for i in range(3):
        for j in range(3):
            out[i, j] = a[i, 0] * b[0, j] + a[i, 1] * b[1, j] + a[i, 2] * b[2, j]


@numba.njit(cache=True, inline="always")
def _chain(q, e0, e1, kind, v3, m3, qadr, qpos0, var, axes, anchors, pos, rot, s1):
    """Apply chain elements ``e0 ≤ e < e1`` at qpos row ``q`` to the frame ``pos (3,)``, ``rot (3, 3)`` in place,
    filling the world axis and anchor of every IK variable passed (rows of ``axes``/``anchors``) as
    mj_kinematics computes them. ``s1 (3, 3)``: scratch. Scalar loops, no allocation: this runs ~10⁵ times a
    second."""
    for e in range(e0, e1):
        k = kind[e]
        if k == _BODY or k == _SHIFT:
            x, y, z = v3[e, 0, 0], v3[e, 0, 1], v3[e, 0, 2]
            for i in range(3):
                pos[i] += rot[i, 0] * x + rot[i, 1] * y + rot[i, 2] * z
            if k == _BODY:
                _mul(rot, m3[e, 0], s1)
                rot[:] = s1
            continue
        ax, an = v3[e, 0], v3[e, 1]
        a0 = rot[0, 0] * ax[0] + rot[0, 1] * ax[1] + rot[0, 2] * ax[2]
        a1 = rot[1, 0] * ax[0] + rot[1, 1] * ax[1] + rot[1, 2] * ax[2]
        a2 = rot[2, 0] * ax[0] + rot[2, 1] * ax[1] + rot[2, 2] * ax[2]
        p0 = pos[0] + rot[0, 0] * an[0] + rot[0, 1] * an[1] + rot[0, 2] * an[2]
        p1 = pos[1] + rot[1, 0] * an[0] + rot[1, 1] * an[1] + rot[1, 2] * an[2]
        p2 = pos[2] + rot[2, 0] * an[0] + rot[2, 1] * an[1] + rot[2, 2] * an[2]
        v = var[e]
        if v >= 0:
            axes[v, 0], axes[v, 1], axes[v, 2] = a0, a1, a2
            anchors[v, 0], anchors[v, 1], anchors[v, 2] = p0, p1, p2
        angle = q[qadr[e]] - qpos0[e]
        if k == _SLIDE:
            b = v3[e, 2]
            pos[0] += a0 * angle + rot[0, 0] * b[0] + rot[0, 1] * b[1] + rot[0, 2] * b[2]
            pos[1] += a1 * angle + rot[1, 0] * b[0] + rot[1, 1] * b[1] + rot[1, 2] * b[2]
            pos[2] += a2 * angle + rot[2, 0] * b[0] + rot[2, 1] * b[1] + rot[2, 2] * b[2]
            _mul(rot, m3[e, 0], s1)
            rot[:] = s1
            continue
        s, c = np.sin(angle), 1.0 - np.cos(angle)
        w, kw, k2w = v3[e, 3], v3[e, 4], v3[e, 5]
        r0, r1, r2 = w[0] + s * kw[0] + c * k2w[0], w[1] + s * kw[1] + c * k2w[1], w[2] + s * kw[2] + c * k2w[2]
        pos[0] = p0 + rot[0, 0] * r0 + rot[0, 1] * r1 + rot[0, 2] * r2
        pos[1] = p1 + rot[1, 0] * r0 + rot[1, 1] * r1 + rot[1, 2] * r2
        pos[2] = p2 + rot[2, 0] * r0 + rot[2, 1] * r1 + rot[2, 2] * r2
        rb, krb, k2rb = m3[e, 0], m3[e, 1], m3[e, 2]
        for i in range(3):
            for j in range(3):
                s1[i, j] = (
                    rot[i, 0] * (rb[0, j] + s * krb[0, j] + c * k2rb[0, j])
                    + rot[i, 1] * (rb[1, j] + s * krb[1, j] + c * k2rb[1, j])
                    + rot[i, 2] * (rb[2, j] + s * krb[2, j] + c * k2rb[2, j])
                )
        rot[:] = s1


@numba.njit(cache=True, inline="always")
def _site(pos, rot, site_pos, site_mat, s1):
    """The frame ``pos``, ``rot`` (in place) → the site's."""
    for i in range(3):
        pos[i] += rot[i, 0] * site_pos[0] + rot[i, 1] * site_pos[1] + rot[i, 2] * site_pos[2]
    _mul(rot, site_mat, s1)
    rot[:] = s1


@numba.njit(cache=True, inline="always")
def _error(target, pos, rot, err, s1):
    """``err (6,) ← [p* − p, log(R* Rᵀ)]`` as :meth:`SiteIK.error` (the log as matrix_to_axis_angle computes
    it); ``s1 (3, 3)``: scratch."""
    for i in range(3):
        err[i] = target[i, 3] - pos[i]
        for j in range(3):
            s1[i, j] = target[i, 0] * rot[j, 0] + target[i, 1] * rot[j, 1] + target[i, 2] * rot[j, 2]
    v0, v1, v2 = 0.5 * (s1[2, 1] - s1[1, 2]), 0.5 * (s1[0, 2] - s1[2, 0]), 0.5 * (s1[1, 0] - s1[0, 1])
    cos = min(max((s1[0, 0] + s1[1, 1] + s1[2, 2] - 1.0) / 2.0, -1.0), 1.0)
    angle = np.arctan2(np.sqrt(v0 * v0 + v1 * v1 + v2 * v2), cos)
    sin = np.sin(angle)
    f = angle / sin if sin > 1e-6 else 1.0
    err[3], err[4], err[5] = v0 * f, v1 * f, v2 * f
    if np.pi - angle < 1e-3:  # the skew part vanishes near π: the axis from the symmetric part
        c = np.cos(angle)
        k = 0
        for i in range(1, 3):
            if s1[i, i] > s1[k, k]:
                k = i
        col = np.empty(3)
        for i in range(3):
            col[i] = 0.5 * (s1[i, k] + s1[k, i]) - (c if i == k else 0.0)
        norm = max(np.sqrt(col[0] ** 2 + col[1] ** 2 + col[2] ** 2), 1e-12)
        sign = -1.0 if col[0] * v0 + col[1] * v1 + col[2] * v2 < 0 else 1.0
        for i in range(3):
            err[3 + i] = sign * col[i] / norm * angle


@numba.njit(cache=True, inline="always")
def cholesky(a):
    """In place: the lower triangle of symmetric positive definite ``a`` ← its Cholesky factor L, the diagonal
    holding 1 / L_jj (one division per column, multiplications after)."""
    n = a.shape[0]
    for j in range(n):
        d = a[j, j]
        for k in range(j):
            d -= a[j, k] * a[j, k]
        inv = 1.0 / np.sqrt(d)
        a[j, j] = inv
        for i in range(j + 1, n):
            acc = a[i, j]
            for k in range(j):
                acc -= a[i, k] * a[j, k]
            a[i, j] = acc * inv


@numba.njit(cache=True, inline="always")
def cho_solve(a, x):
    """``x ← (L Lᵀ)⁻¹ x`` in place with ``a`` from :func:`cholesky`."""
    n = len(x)
    for i in range(n):  # L y = x
        acc = x[i]
        for k in range(i):
            acc -= a[i, k] * x[k]
        x[i] = acc * a[i, i]
    for i in range(n - 1, -1, -1):  # Lᵀ z = y
        acc = x[i]
        for k in range(i + 1, n):
            acc -= a[k, i] * x[k]
        x[i] = acc * a[i, i]


@numba.njit(cache=True)
def _fk_batch(q, kind, v3, m3, qadr, qpos0, var, site_pos, site_mat, nvar):
    out = np.zeros((q.shape[0], 4, 4))
    axes, anchors = np.zeros((nvar, 3)), np.zeros((nvar, 3))
    pos, rot, s1 = np.zeros(3), np.zeros((3, 3)), np.zeros((3, 3))
    for n in range(q.shape[0]):
        pos[:], rot[:] = 0.0, np.eye(3)
        _chain(q[n], 0, len(kind), kind, v3, m3, qadr, qpos0, var, axes, anchors, pos, rot, s1)
        _site(pos, rot, site_pos, site_mat, s1)
        out[n, :3, :3], out[n, :3, 3], out[n, 3, 3] = rot, pos, 1.0
    return out


@numba.njit(cache=True)
def _ik_batch(q, target, kind, v3, m3, qadr, qpos0, var, site_pos, site_mat, split, arm, slide, low, high, lam2, iters):
    """DLS IK in place on ``q (N, nq)``; returns the reached site poses ``(N, 4, 4)``."""
    out = np.zeros((q.shape[0], 4, 4))
    nvar, ne = len(arm), len(kind)
    axes, anchors = np.zeros((nvar, 3)), np.zeros((nvar, 3))
    pos, rot, s1 = np.zeros(3), np.zeros((3, 3)), np.zeros((3, 3))
    base_pos, base_rot, eye = np.zeros(3), np.zeros((3, 3)), np.eye(3)
    jac, a, err = np.zeros((6, nvar)), np.zeros((6, 6)), np.zeros(6)
    for n in range(q.shape[0]):
        qn, tn = q[n], target[n]
        base_pos[:], base_rot[:] = 0.0, eye
        _chain(qn, 0, split, kind, v3, m3, qadr, qpos0, var, axes, anchors, base_pos, base_rot, s1)
        for it in range(iters + 1):
            pos[:], rot[:] = base_pos, base_rot
            _chain(qn, split, ne, kind, v3, m3, qadr, qpos0, var, axes, anchors, pos, rot, s1)
            _site(pos, rot, site_pos, site_mat, s1)
            if it == iters:
                break
            _error(tn, pos, rot, err, s1)
            for v in range(nvar):
                u0, u1, u2 = axes[v, 0], axes[v, 1], axes[v, 2]
                if slide[v]:
                    jac[0, v], jac[1, v], jac[2, v], jac[3, v], jac[4, v], jac[5, v] = u0, u1, u2, 0.0, 0.0, 0.0
                else:
                    r0, r1, r2 = pos[0] - anchors[v, 0], pos[1] - anchors[v, 1], pos[2] - anchors[v, 2]
                    jac[0, v], jac[1, v], jac[2, v] = u1 * r2 - u2 * r1, u2 * r0 - u0 * r2, u0 * r1 - u1 * r0
                    jac[3, v], jac[4, v], jac[5, v] = u0, u1, u2
            for i in range(6):  # the lower triangle of J Jᵀ + λ² I
                for j in range(i + 1):
                    acc = lam2 if i == j else 0.0
                    for v in range(nvar):
                        acc += jac[i, v] * jac[j, v]
                    a[i, j] = acc
            cholesky(a)  # J Jᵀ + λ² I is symmetric positive definite
            cho_solve(a, err)  # err ← (J Jᵀ + λ² I)⁻¹ err
            for v in range(nvar):
                dq = 0.0
                for i in range(6):
                    dq += jac[i, v] * err[i]
                qn[arm[v]] = min(max(qn[arm[v]] + dq, low[v]), high[v])
        out[n, :3, :3], out[n, :3, 3], out[n, 3, 3] = rot, pos, 1.0
    return out
