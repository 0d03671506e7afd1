"""Damped-least-squares inverse kinematics on a MuJoCo site (kinematics only, no physics step)."""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from cosmos3_gym.tokens.rotation import matrix_to_axis_angle


class SiteIK:
    """DLS IK for one site over a fixed set of joints, on a private scratch ``MjData``.

    Each iteration: ``dq = Jᵀ (J Jᵀ + λ² I)⁻¹ e`` with ``e = [p* − p, log(R* Rᵀ)]`` in the world frame,
    then clip to joint limits. ``λ`` (``damping``) keeps steps bounded near singularities.
    """

    def __init__(self, model: mujoco.MjModel, site: str, joints: Sequence[str], damping: float = 0.05) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.site = model.site(site).id
        ids = [model.joint(j).id for j in joints]
        self.qadr = np.array([model.jnt_qposadr[i] for i in ids])
        self.dadr = np.array([model.jnt_dofadr[i] for i in ids])
        self.low = np.array([model.jnt_range[i, 0] if model.jnt_limited[i] else -np.inf for i in ids])
        self.high = np.array([model.jnt_range[i, 1] if model.jnt_limited[i] else np.inf for i in ids])
        self.damping = damping
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def error(self, target: np.ndarray) -> np.ndarray:
        """6-vector [position error (m), rotation error (rad, axis-angle)] at the scratch state."""
        cur_rot = self.data.site_xmat[self.site].reshape(3, 3)
        err = np.empty(6)
        err[:3] = target[:3, 3] - self.data.site_xpos[self.site]
        err[3:] = matrix_to_axis_angle(target[:3, :3] @ cur_rot.T)
        return err

    def solve(self, qpos: np.ndarray, target: np.ndarray, iterations: int) -> tuple[np.ndarray, float, float]:
        """Joint targets for the site to reach ``target`` (4×4, world) starting from ``qpos``.

        Returns ``(q_arm, position error m, rotation error rad)``; ``q_arm`` is ordered like ``joints``.
        """
        d = self.data
        d.qpos[:] = qpos
        mujoco.mj_kinematics(self.model, d)
        err = self.error(target)
        lam2 = self.damping**2
        for _ in range(iterations):
            mujoco.mj_comPos(self.model, d)
            mujoco.mj_jacSite(self.model, d, self._jacp, self._jacr, self.site)
            jac = np.vstack([self._jacp[:, self.dadr], self._jacr[:, self.dadr]])
            dq = jac.T @ np.linalg.solve(jac @ jac.T + lam2 * np.eye(6), err)
            d.qpos[self.qadr] = np.clip(d.qpos[self.qadr] + dq, self.low, self.high)
            mujoco.mj_kinematics(self.model, d)
            err = self.error(target)
        return d.qpos[self.qadr].copy(), float(np.linalg.norm(err[:3])), float(np.linalg.norm(err[3:]))


def solve_ik(
    model: mujoco.MjModel,
    qpos: np.ndarray,
    site: str,
    joints: Sequence[str],
    target: np.ndarray,
    iterations: int = 100,
    damping: float = 0.05,
) -> tuple[np.ndarray, float, float]:
    """One-shot convenience wrapper around :class:`SiteIK`."""
    return SiteIK(model, site, joints, damping).solve(qpos, target, iterations)
