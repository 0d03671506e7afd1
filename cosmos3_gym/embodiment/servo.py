"""Batched, compiled servo dynamics of one arm: how far its position actuators move it in one control step.

The twins' controller sets each arm joint's position actuator to the IK target and runs ``substeps`` physics
steps. Where the actuators are stiff and the links light the joints arrive within the control step, and the
controller's IK step alone (:class:`~cosmos3_gym.embodiment.chain.ArmChain`) says where the arm ends up; where
the torque saturates (Franka's 12 N·m wrists) or the servos are undamped (AgiBot's ``kv = 0``) the joints lag,
overshoot and swing, and under abrupt reversals those lags add up to centimetres within 16 steps.

:class:`JointServo` integrates the arm as MuJoCo's ``implicitfast`` does, in free space: the arm block of the
joint-space inertia ``M(q)`` (composite rigid bodies of everything the arm carries, armature included; computed
once per control step), the actuator forces ``kp (target − q) − kv q̇`` clipped to their force ranges, the
joints' damping, both dampings integrated implicitly, the positions clipped to the joints' ranges. Every
number is read from the MJCF; nothing is fitted. Left out: gravity (the arms are gravity-compensated or
stiff), Coriolis forces, the other joints' motion, contact forces on the arm.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numba
import numpy as np

from cosmos3_gym.embodiment.chain import cho_solve, cholesky, quat_mat

_NONE, _HINGE, _SLIDE = 0, 1, 2


class JointServo:
    """Servo dynamics of ``joints`` (a chain of hinge or slide joints of one arm, each driven by one position
    actuator) of ``model``."""

    def __init__(self, model: mujoco.MjModel, joints: Sequence[str], substeps: int) -> None:
        ids = [model.joint(j).id for j in joints]
        acts = [_position_actuator(model, j) for j in ids]
        #: qpos / dof addresses of the joints, in ``joints`` order.
        self.qadr = np.array([model.jnt_qposadr[j] for j in ids], np.int64)
        self.dadr = np.array([model.jnt_dofadr[j] for j in ids], np.int64)
        self.kp = np.array([model.actuator_gainprm[a, 0] for a in acts])
        # A position actuator's bias is -kp q - kv q̇; MuJoCo turns a ``dampratio`` into kv when it compiles.
        self.kv = np.array([-model.actuator_biasprm[a, 2] for a in acts])
        self.force = np.array(
            [model.actuator_forcerange[a, 1] if model.actuator_forcelimited[a] else np.inf for a in acts]
        )
        ctrl = np.array(
            [model.actuator_ctrlrange[a] if model.actuator_ctrllimited[a] else (-np.inf, np.inf) for a in acts]
        )
        self.ctrl_low, self.ctrl_high = ctrl[:, 0].copy(), ctrl[:, 1].copy()
        self.damping, self.armature = model.dof_damping[self.dadr].copy(), model.dof_armature[self.dadr].copy()
        self.low = np.array([model.jnt_range[j, 0] if model.jnt_limited[j] else -np.inf for j in ids])
        self.high = np.array([model.jnt_range[j, 1] if model.jnt_limited[j] else np.inf for j in ids])
        self.timestep, self.substeps = float(model.opt.timestep), int(substeps)
        self._tree = _body_tree(model, ids)

    def inertia(self, qpos: np.ndarray) -> np.ndarray:
        """The arm block of the joint-space inertia ``(N, k, k)`` at robot joint positions ``qpos (N, ≥ nq)``, as
        ``mj_fullM`` gives it (rows and columns in ``joints`` order)."""
        q = np.ascontiguousarray(qpos, dtype=np.float64)
        return _inertia_batch(q, *self._tree, self.armature)

    def step(self, qpos: np.ndarray, v: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One control step of ``substeps`` physics steps from robot joint positions ``qpos (N, ≥ nq)`` (rad or m)
        and the arm's joint velocities ``v (N, k)`` (rad/s or m/s) toward actuator targets ``target (N, k)``;
        returns the arm's new joint positions and velocities ``(N, k)`` each."""
        p = _propagator(self.inertia(qpos), self.damping, self.kv, self.timestep)
        # joint-major copies: the compiled loops run over environments innermost, where they vectorize
        q = np.array(np.asarray(qpos, dtype=np.float64)[:, self.qadr].T, order="C")
        v = np.array(np.asarray(v, dtype=np.float64).T, order="C")
        ctrl = np.array(np.clip(target, self.ctrl_low, self.ctrl_high).T, dtype=np.float64, order="C")
        params = (self.kp, self.kv, self.force, self.damping, self.low, self.high)
        _servo(q, v, ctrl, p, *params, self.timestep, self.substeps)
        return q.T, v.T


def _position_actuator(model: mujoco.MjModel, joint: int) -> int:
    """The actuator driving ``joint``; it must be a position servo (force kp (ctrl − q) − kv q̇)."""
    name = model.joint(joint).name
    for a in range(model.nu):
        if model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT and model.actuator_trnid[a, 0] == joint:
            gain, bias = model.actuator_gainprm[a], model.actuator_biasprm[a]
            if model.actuator_biastype[a] != mujoco.mjtBias.mjBIAS_AFFINE or bias[1] != -gain[0] or bias[0] != 0:
                raise ValueError(f"joint {name!r}: its actuator is not a position servo, which the servo prior needs")
            return a
    raise ValueError(f"joint {name!r} has no actuator: the servo prior needs a position actuator")


def _body_tree(model: mujoco.MjModel, arm: list[int]) -> tuple[np.ndarray, ...]:
    """The bodies that place or ride on the arm, as frame nodes in topological order: every ancestor of the arm's
    first body and its whole subtree (what the arm carries: hand, fingers). A node is a body's fixed offset and
    its first joint, or a further joint of the same body; the body's last node carries its mass."""
    root = min(int(model.jnt_bodyid[j]) for j in arm)  # MuJoCo numbers bodies parents first
    ancestors, b = set(), int(model.body_parentid[root])
    while b != 0:
        ancestors.add(b)
        b = int(model.body_parentid[b])
    subtree = {b for b in range(model.nbody) if _descends(model, b, root)}
    var = {j: k for k, j in enumerate(arm)}
    if not set(int(model.jnt_bodyid[j]) for j in arm) <= subtree:
        raise ValueError("the arm's joints are not one chain")
    parent, pos, rot, kind, axis, anchor, qadr, qpos0, var_of, mass, ipos, ibody = ([] for _ in range(12))
    node_of = {0: -1}
    for b in sorted(ancestors | subtree):
        jnts = list(range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b])) or [-1]
        for i, j in enumerate(jnts):
            first = i == 0
            parent.append(node_of[int(model.body_parentid[b])] if first else len(parent) - 1)
            pos.append(model.body_pos[b] if first else np.zeros(3))
            rot.append(quat_mat(model.body_quat[b]) if first else np.eye(3))
            jt = -1 if j < 0 else int(model.jnt_type[j])
            if jt not in (-1, int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)):
                raise ValueError(f"joint {model.joint(j).name!r}: the servo prior supports hinge and slide joints")
            kind.append(_NONE if j < 0 else _HINGE if jt == mujoco.mjtJoint.mjJNT_HINGE else _SLIDE)
            axis.append(model.jnt_axis[j] if j >= 0 else np.zeros(3))
            anchor.append(model.jnt_pos[j] if j >= 0 else np.zeros(3))
            qadr.append(int(model.jnt_qposadr[j]) if j >= 0 else 0)
            qpos0.append(float(model.qpos0[model.jnt_qposadr[j]]) if j >= 0 else 0.0)
            var_of.append(var.get(j, -1))
            last = i == len(jnts) - 1 and b in subtree
            mass.append(float(model.body_mass[b]) if last else 0.0)
            ipos.append(model.body_ipos[b])
            r = quat_mat(model.body_iquat[b])
            ibody.append(r @ np.diag(model.body_inertia[b]) @ r.T)
        node_of[b] = len(parent) - 1
    # which arm joints move each node: its own and its ancestors' (a node's ancestors come before it)
    moves = np.zeros((len(parent), len(arm)), np.bool_)
    for n, p in enumerate(parent):
        if p >= 0:
            moves[n] = moves[p]
        if var_of[n] >= 0:
            moves[n, var_of[n]] = True
    arrays = (parent, pos, rot, kind, axis, anchor, qadr, qpos0, var_of, mass, ipos, ibody)
    types = (np.int64, float, float, np.int64, float, float, np.int64, float, np.int64, float, float, float)
    slide = np.array([model.jnt_type[j] == mujoco.mjtJoint.mjJNT_SLIDE for j in arm], np.bool_)
    return (*(np.array(a, t) for a, t in zip(arrays, types, strict=True)), moves, slide)


def _descends(model: mujoco.MjModel, b: int, root: int) -> bool:
    while b > root:
        b = int(model.body_parentid[b])
    return b == root


@numba.njit(cache=True)
def _inertia_batch(
    q, parent, pos, rot, kind, axis, anchor, qadr, qpos0, var, mass, ipos, ibody, moves, slide, armature
):  # pragma: no cover - compiled
    """``M (N, k, k)`` by composite rigid bodies: each arm joint's twist (ω, v at the world origin) against the
    momentum that twist gives everything it moves (mass m, first moment h, inertia J about the origin:
    L = J ω + h × v, p = m v + ω × h), M_ij = ω_i · L_j + v_i · p_j for j the deeper joint; plus the armature.
    Frames as ``mj_kinematics`` places them; scalar loops, no allocation per environment."""
    nn, k = len(parent), len(armature)
    out = np.zeros((q.shape[0], k, k))
    xpos, xrot = np.zeros((nn, 3)), np.zeros((nn, 3, 3))
    w, v = np.zeros((k, 3)), np.zeros((k, 3))  # twists of the arm joints
    body = np.zeros((nn, 13))  # per node: m, h (3), J about the origin (3 × 3), then summed over its subtree
    r, t = np.zeros((3, 3)), np.zeros((3, 3))
    node = np.full(k, -1)
    for e in range(nn):
        if var[e] >= 0:
            node[var[e]] = e
    for n in range(q.shape[0]):
        for e in range(nn):
            p = parent[e]
            for i in range(3):
                if p >= 0:
                    xpos[e, i] = (
                        xpos[p, i] + xrot[p, i, 0] * pos[e, 0] + xrot[p, i, 1] * pos[e, 1] + xrot[p, i, 2] * pos[e, 2]
                    )
                    for j in range(3):
                        xrot[e, i, j] = (
                            xrot[p, i, 0] * rot[e, 0, j] + xrot[p, i, 1] * rot[e, 1, j] + xrot[p, i, 2] * rot[e, 2, j]
                        )
                else:
                    xpos[e, i] = pos[e, i]
                    for j in range(3):
                        xrot[e, i, j] = rot[e, i, j]
            if kind[e] != _NONE:
                u, an, R = axis[e], anchor[e], xrot[e]
                a0 = R[0, 0] * u[0] + R[0, 1] * u[1] + R[0, 2] * u[2]
                a1 = R[1, 0] * u[0] + R[1, 1] * u[1] + R[1, 2] * u[2]
                a2 = R[2, 0] * u[0] + R[2, 1] * u[1] + R[2, 2] * u[2]
                c0 = xpos[e, 0] + R[0, 0] * an[0] + R[0, 1] * an[1] + R[0, 2] * an[2]
                c1 = xpos[e, 1] + R[1, 0] * an[0] + R[1, 1] * an[1] + R[1, 2] * an[2]
                c2 = xpos[e, 2] + R[2, 0] * an[0] + R[2, 1] * an[1] + R[2, 2] * an[2]
                angle = q[n, qadr[e]] - qpos0[e]
                j = var[e]
                if kind[e] == _SLIDE:
                    if j >= 0:
                        w[j, 0], w[j, 1], w[j, 2], v[j, 0], v[j, 1], v[j, 2] = 0.0, 0.0, 0.0, a0, a1, a2
                    xpos[e, 0] += a0 * angle
                    xpos[e, 1] += a1 * angle
                    xpos[e, 2] += a2 * angle
                else:
                    if j >= 0:  # a point x moves with a × (x − c) = a × x + c × a
                        w[j, 0], w[j, 1], w[j, 2] = a0, a1, a2
                        v[j, 0], v[j, 1], v[j, 2] = c1 * a2 - c2 * a1, c2 * a0 - c0 * a2, c0 * a1 - c1 * a0
                    s, cc = np.sin(angle), 1.0 - np.cos(angle)  # R ← R (I + sin K + (1 − cos) K²), K of u
                    r[0, 0], r[1, 1], r[2, 2] = (
                        1 - cc * (u[1] ** 2 + u[2] ** 2),
                        1 - cc * (u[0] ** 2 + u[2] ** 2),
                        1 - cc * (u[0] ** 2 + u[1] ** 2),
                    )
                    r[0, 1], r[1, 0] = -s * u[2] + cc * u[0] * u[1], s * u[2] + cc * u[0] * u[1]
                    r[0, 2], r[2, 0] = s * u[1] + cc * u[0] * u[2], -s * u[1] + cc * u[0] * u[2]
                    r[1, 2], r[2, 1] = -s * u[0] + cc * u[1] * u[2], s * u[0] + cc * u[1] * u[2]
                    for i in range(3):
                        for jj in range(3):
                            t[i, jj] = R[i, 0] * r[0, jj] + R[i, 1] * r[1, jj] + R[i, 2] * r[2, jj]
                    for i in range(3):
                        xrot[e, i, 0], xrot[e, i, 1], xrot[e, i, 2] = t[i, 0], t[i, 1], t[i, 2]
                        xpos[e, i] = (c0, c1, c2)[i] - (t[i, 0] * an[0] + t[i, 1] * an[1] + t[i, 2] * an[2])
            m = mass[e]
            body[e] = 0.0
            if m == 0.0:
                continue
            R, ip, ib = xrot[e], ipos[e], ibody[e]
            x0 = xpos[e, 0] + R[0, 0] * ip[0] + R[0, 1] * ip[1] + R[0, 2] * ip[2]
            x1 = xpos[e, 1] + R[1, 0] * ip[0] + R[1, 1] * ip[1] + R[1, 2] * ip[2]
            x2 = xpos[e, 2] + R[2, 0] * ip[0] + R[2, 1] * ip[1] + R[2, 2] * ip[2]
            for i in range(3):  # t ← R Ib
                for jj in range(3):
                    t[i, jj] = R[i, 0] * ib[0, jj] + R[i, 1] * ib[1, jj] + R[i, 2] * ib[2, jj]
            sq = x0 * x0 + x1 * x1 + x2 * x2
            xs = (x0, x1, x2)
            b = body[e]
            b[0], b[1], b[2], b[3] = m, m * x0, m * x1, m * x2
            for i in range(3):  # J = R Ib Rᵀ + m (|x|² I − x xᵀ)
                for jj in range(3):
                    acc = t[i, 0] * R[jj, 0] + t[i, 1] * R[jj, 1] + t[i, 2] * R[jj, 2] - m * xs[i] * xs[jj]
                    b[4 + 3 * i + jj] = acc + (m * sq if i == jj else 0.0)
        for e in range(nn - 1, -1, -1):  # children after parents: each node's sum becomes its subtree's
            if parent[e] >= 0:
                for x in range(13):
                    body[parent[e], x] += body[e, x]
        M = out[n]
        for j in range(k):
            cm = body[node[j]]  # the composite of everything joint j moves
            w0, w1, w2, v0, v1, v2 = w[j, 0], w[j, 1], w[j, 2], v[j, 0], v[j, 1], v[j, 2]
            h0, h1, h2 = cm[1], cm[2], cm[3]
            l0 = cm[4] * w0 + cm[5] * w1 + cm[6] * w2 + h1 * v2 - h2 * v1
            l1 = cm[7] * w0 + cm[8] * w1 + cm[9] * w2 + h2 * v0 - h0 * v2
            l2 = cm[10] * w0 + cm[11] * w1 + cm[12] * w2 + h0 * v1 - h1 * v0
            p0 = cm[0] * v0 + w1 * h2 - w2 * h1
            p1 = cm[0] * v1 + w2 * h0 - w0 * h2
            p2 = cm[0] * v2 + w0 * h1 - w1 * h0
            for i in range(k):
                if moves[node[j], i]:  # i is j itself or above it: everything j moves, i moves too
                    val = w[i, 0] * l0 + w[i, 1] * l1 + w[i, 2] * l2 + v[i, 0] * p0 + v[i, 1] * p1 + v[i, 2] * p2
                    M[i, j], M[j, i] = val, val
            M[j, j] += armature[j]
    return out


@numba.njit(cache=True)
def _propagator(inertia, damping, kv, h):  # pragma: no cover - compiled
    """Per environment P = h (M + h diag(d + kv))⁻¹, joint-major ``(k, k, N)``."""
    n, k = inertia.shape[0], inertia.shape[1]
    p = np.zeros((k, k, n))
    a, col = np.zeros((k, k)), np.zeros(k)
    for i in range(n):
        m = inertia[i]
        for r in range(k):
            for c in range(k):
                a[r, c] = m[r, c]
            a[r, r] += h * (damping[r] + kv[r])
        cholesky(a)
        for c in range(k):
            col[:] = 0.0
            col[c] = h
            cho_solve(a, col)
            for r in range(k):
                p[r, c, i] = col[r]
    return p


# fastmath without nnan/ninf: joint ranges and force limits may be infinite
@numba.njit(cache=True, fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})
def _servo(q, v, ctrl, p, kp, kv, force, damping, low, high, h, substeps):  # pragma: no cover
    """In place on joint-major ``q, v (k, N)``: ``substeps`` steps of ``h`` seconds, implicit in the velocity as
    ``implicitfast``: (M + h D) v' = M v + h (f − d v) + h D v, f the actuator force kp (ctrl − q) − kv v clipped
    to ±F, D the damping taken implicitly: d + kv, or d alone where f saturates. While D = d + kv,
    v' = v + P (f − d v) (:func:`_propagator`'s P) for all environments at once (environments innermost: the
    loops vectorize); that holds too where a saturated actuator has no kv (AgiBot's); an environment where one
    with kv saturates corrects that by a low-rank update."""
    k, n = q.shape
    u, nv, w = np.empty((k, n)), np.empty((k, n)), np.empty((k, n))
    sat, hit = np.zeros((k, n), np.bool_), np.zeros(n, np.bool_)
    a, rhs, sol, idx = np.zeros((k, k)), np.zeros(k), np.zeros(k), np.zeros(k, np.int64)
    for _ in range(substeps):
        hit[:] = False
        for j in range(k):
            for i in range(n):
                e = kp[j] * (ctrl[j, i] - q[j, i])
                f = e - kv[j] * v[j, i]
                w[j, i] = min(max(f, -force[j]), force[j])
                u[j, i] = w[j, i] - damping[j] * v[j, i]
                sat[j, i] = (f > force[j]) | (f < -force[j])  # bitwise: no branch, the loop vectorizes
                hit[i] |= sat[j, i] & (kv[j] > 0.0)
        for r in range(k):
            for i in range(n):
                nv[r, i] = v[r, i]
            for c in range(k):
                for i in range(n):
                    nv[r, i] += p[r, c, i] * u[c, i]
        for i in range(n):
            if not hit[i]:
                continue
            # The saturated joints S with kv drop h kv_S from A and h kv_S v_S from the right side: take the
            # latter out of the update, then Woodbury, with A⁻¹ = P / h and C = h diag(kv_S):
            # v' = y + A⁻¹ U (C⁻¹ − Uᵀ A⁻¹ U)⁻¹ Uᵀ y, an |S| × |S| solve (the matrix is positive definite).
            ns = 0
            for j in range(k):
                if sat[j, i] and kv[j] > 0.0:
                    idx[ns] = j
                    ns += 1
            for r in range(k):
                acc = nv[r, i]
                for t in range(ns):
                    acc -= p[r, idx[t], i] * kv[idx[t]] * v[idx[t], i]
                rhs[r] = acc
            for t in range(ns):
                for t2 in range(ns):
                    a[t, t2] = -p[idx[t], idx[t2], i] / h
                a[t, t] += 1.0 / (h * kv[idx[t]])
                sol[t] = rhs[idx[t]]
            cholesky(a[:ns, :ns])
            cho_solve(a[:ns, :ns], sol[:ns])
            for r in range(k):
                acc = rhs[r]
                for t in range(ns):
                    acc += p[r, idx[t], i] / h * sol[t]
                nv[r, i] = acc
        for j in range(k):
            for i in range(n):
                qj = q[j, i] + h * nv[j, i]
                inside = (qj >= low[j]) & (qj <= high[j])  # the joint's limit stops it
                q[j, i] = min(max(qj, low[j]), high[j])
                v[j, i] = nv[j, i] * inside
