"""Batched, compiled dynamics of a parallel gripper's fingers over one control step, as MuJoCo integrates them.

Every shipped gripper is two slide joints coupled by a joint equality (``q_b = ±q_a``) and driven by one
actuator on a fixed tendon ``L = Σ cⱼ qⱼ`` with an affine force ``g·ctrl + b₁ L + b₂ L̇`` clipped to its force
range (a position servo, or the Franka Hand's 0–255 convention). With the coupling held exactly that is one
coordinate ``s`` (the first finger joint), and :class:`FingerServo` integrates it as ``implicitfast`` does:
the joints' damping and, while the force is not clipped, the actuator's velocity term implicit; ``substeps``
physics steps; the position clipped to the joint range. Every number is read from the MJCF; nothing is fitted.
Left out: contacts (a finger closing on the cube stops at it: the world model's grasp prior keeps that),
gravity along the fingers, the equality's softness.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numba
import numpy as np


class FingerServo:
    """The fingers ``joints`` (two slide joints coupled by a joint equality) of the gripper actuator ``actuator``
    of ``model``; ``width_scale``/``width_offset`` turn finger positions into the opening (m), as the YAML's
    gripper does."""

    def __init__(
        self,
        model: mujoco.MjModel,
        actuator: str,
        joints: Sequence[str],
        width_scale: Sequence[float],
        width_offset: float,
        substeps: int,
    ) -> None:
        act = model.actuator(actuator).id
        ids = [model.joint(j).id for j in joints]
        if len(ids) != 2 or any(int(model.jnt_type[j]) != mujoco.mjtJoint.mjJNT_SLIDE for j in ids):
            raise ValueError(f"actuator {actuator!r}: the finger servo needs two slide joints, got {list(joints)}")
        #: Each joint's position per unit of the first's, from the joint equality that couples them.
        self.ratio = np.array([1.0, _coupling(model, ids[0], ids[1])])
        if model.actuator_trntype[act] != mujoco.mjtTrn.mjTRN_TENDON:
            raise ValueError(f"actuator {actuator!r}: the finger servo needs an actuator on a fixed tendon")
        tendon = model.actuator_trnid[act, 0]
        adr, num = model.tendon_adr[tendon], model.tendon_num[tendon]
        coef = {int(model.wrap_objid[k]): float(model.wrap_prm[k]) for k in range(adr, adr + num)}
        if set(coef) != set(ids):
            raise ValueError(f"actuator {actuator!r}: its tendon must span exactly the finger joints {list(joints)}")
        if model.actuator_biastype[act] != mujoco.mjtBias.mjBIAS_AFFINE or model.actuator_dyntype[act] != 0:
            raise ValueError(f"actuator {actuator!r}: the finger servo needs an affine-bias actuator without dynamics")
        #: Tendon length per unit of s, the actuator's gain and bias (force = gain ctrl + b1 L + b2 L̇), limits.
        self.length = float(sum(coef[j] * r for j, r in zip(ids, self.ratio, strict=True)))
        self.gain = float(model.actuator_gainprm[act, 0])
        self.b1, self.b2 = float(model.actuator_biasprm[act, 1]), float(model.actuator_biasprm[act, 2])
        limited = model.actuator_forcelimited[act]
        self.force = float(model.actuator_forcerange[act, 1]) if limited else np.inf
        self.ctrl_range = model.actuator_ctrlrange[act].copy() if model.actuator_ctrllimited[act] else None
        bodies = [model.jnt_bodyid[j] for j in ids]
        dofs = [model.jnt_dofadr[j] for j in ids]
        #: Inertia and damping along s (kg, N·s/m): every finger's mass and armature, and damping, by ratio².
        r2 = self.ratio**2
        self.mass = float(np.sum((model.body_subtreemass[bodies] + model.dof_armature[dofs]) * r2))
        self.damping = float(np.sum(model.dof_damping[dofs] * r2))
        lo, hi = model.jnt_range[ids[0]]
        self.low, self.high = (float(lo), float(hi)) if model.jnt_limited[ids[0]] else (-np.inf, np.inf)
        self.qadr = np.array([model.jnt_qposadr[j] for j in ids], np.int64)
        self.dadr = np.array([model.jnt_dofadr[j] for j in ids], np.int64)
        self.width_per_s = float(np.dot(width_scale, self.ratio))
        self.width_offset = float(width_offset)
        self.timestep, self.substeps = float(model.opt.timestep), int(substeps)

    def step(self, s: np.ndarray, v: np.ndarray, ctrl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One control step from the first finger's position ``s (N,)`` (m) and velocity ``v (N,)`` (m/s) under
        actuator controls ``ctrl (N,)``; returns the new (s, v)."""
        if self.ctrl_range is not None:
            ctrl = np.clip(ctrl, *self.ctrl_range)
        args = (self.length, self.gain, self.b1, self.b2, self.force, self.mass, self.damping, self.low, self.high)
        return _fingers(
            np.array(s, np.float64), np.array(v, np.float64), np.ascontiguousarray(ctrl, np.float64),
            *args, self.timestep, self.substeps,
        )  # fmt: skip

    def joints(self, s: np.ndarray) -> np.ndarray:
        """Both finger joints' positions ``(N, 2)`` at ``s (N,)``."""
        return s[:, None] * self.ratio

    def width(self, s: np.ndarray) -> np.ndarray:
        """The opening (m) ``(N,)`` at ``s (N,)``."""
        return self.width_offset + self.width_per_s * s


def _coupling(model: mujoco.MjModel, a: int, b: int) -> float:
    """``q_b / q_a`` from the joint equality between fingers ``a`` and ``b`` (``q₁ = p₁ q₂``, no offset)."""
    for k in range(model.neq):
        if model.eq_type[k] != mujoco.mjtEq.mjEQ_JOINT or {model.eq_obj1id[k], model.eq_obj2id[k]} != {a, b}:
            continue
        poly = model.eq_data[k, :5]
        if poly[0] != 0 or np.any(poly[2:] != 0) or poly[1] == 0:
            raise ValueError("the finger servo needs a linear finger coupling q1 = p1 q2")
        return float(poly[1]) if model.eq_obj1id[k] == b else 1.0 / float(poly[1])
    raise ValueError(f"fingers {model.joint(a).name!r} and {model.joint(b).name!r} have no joint equality")


@numba.njit(cache=True)
def _fingers(s, v, ctrl, length, gain, b1, b2, force, mass, damping, low, high, h, substeps):
    for i in range(s.shape[0]):
        si, vi = s[i], v[i]
        for _ in range(substeps):
            f = gain * ctrl[i] + b1 * length * si + b2 * length * vi
            d = damping
            if f > force:
                f = force
            elif f < -force:
                f = -force
            else:
                d -= b2 * length * length  # the actuator's velocity term, implicit while its force is not clipped
            vi = vi + h * (length * f - damping * vi) / (mass + h * d)
            si = si + h * vi
            if si < low:
                si, vi = low, 0.0
            elif si > high:
                si, vi = high, 0.0
        s[i], v[i] = si, vi
    return s, v
