"""Native (agent) actions ⇄ raw Cosmos3 actions, batched, given the current TCP poses.

A native action per arm is ``[dx, dy, dz, rx, ry, rz, g] ∈ [-1, 1]``: the commanded TCP pose is
``p* = p + d · max_translation_m`` and ``R* = exp(r · max_rotation_rad) · R`` (base frame, about the
TCP); the gripper maps -1 → closed, +1 → open. Pose blocks no arm moves (AgiBot's head) get a zero
motion row. :meth:`NativeActionMap.command` is the one conversion both backends use: the MuJoCo twin's
controller drives IK to the commanded poses, the learned simulator gives the raw action to the model
and the poses to its prior, so one native action means the same in both. Actions are clipped to
``[-1, 1]`` once, where they enter an env (:func:`~cosmos3_gym.embodiment.spaces.check_action`).
"""

from __future__ import annotations

import numpy as np

from cosmos3_gym.tokens.embodiment import Embodiment
from cosmos3_gym.tokens.rotation import axis_angle_to_matrix, matrix_to_axis_angle


class NativeActionMap:
    """Conversions for one embodiment; ``B`` is any leading batch shape."""

    def __init__(self, emb: Embodiment) -> None:
        self.emb = emb
        act = emb.spec.action
        self.max_t, self.max_r = act.max_translation_m, act.max_rotation_rad
        names = emb.contract.pose_names
        self.arm_block = [names.index(a.end_effector) for a in act.arms]
        grippers = {g.name: g for g in emb.spec.grippers}
        self.arm_gripper = [grippers[a.gripper] for a in act.arms]
        self.gripper_slot = [emb.contract.gripper_names.index(a.gripper) for a in act.arms]
        self.num_arms = len(act.arms)

    def gripper_to_cosmos3(self, g: np.ndarray, arm: int) -> np.ndarray:
        """Native gripper command in ``[-1, 1]`` → Cosmos3 value (open fraction, or width in m)."""
        frac = (g + 1.0) / 2.0
        gr = self.arm_gripper[arm]
        return frac * gr.max_width_m if gr.convention == "width_m" else frac

    def gripper_from_cosmos3(self, value: np.ndarray, arm: int) -> np.ndarray:
        """Cosmos3 gripper value → native command in ``[-1, 1]``."""
        gr = self.arm_gripper[arm]
        frac = value / gr.max_width_m if gr.convention == "width_m" else value
        return np.clip(2.0 * frac - 1.0, -1.0, 1.0)

    def commanded_poses(self, tcp: np.ndarray, action: np.ndarray) -> np.ndarray:
        """Arm TCP poses ``(B, arms, 4, 4)`` + native actions ``(B, 7·arms)`` in ``[-1, 1]`` → commanded
        poses ``(B, arms, 4, 4)``."""
        a = action.reshape(*action.shape[:-1], self.num_arms, 7)
        out = np.array(tcp, dtype=np.float64, copy=True)
        out[..., :3, 3] += a[..., :3] * self.max_t
        out[..., :3, :3] = axis_angle_to_matrix(a[..., 3:6] * self.max_r) @ out[..., :3, :3]
        return out

    def command(self, tcp: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Native actions ``(B, 7·arms)`` in ``[-1, 1]`` at arm TCP poses ``(B, arms, 4, 4)`` → (commanded
        poses ``(B, arms, 4, 4)``, raw Cosmos3 actions ``(B, D)``: the contract's encoding of the move
        from ``tcp`` to those poses, with the gripper command)."""
        batch = action.shape[:-1]
        target = self.commanded_poses(tcp, action)
        P = self.emb.num_poses
        pair = np.broadcast_to(np.eye(4), (*batch, 2, P, 4, 4)).copy()
        for arm, block in enumerate(self.arm_block):
            pair[..., 0, block, :, :] = tcp[..., arm, :, :]
            pair[..., 1, block, :, :] = target[..., arm, :, :]
        a = action.reshape(*batch, self.num_arms, 7)
        grip = np.zeros((*batch, 1, self.emb.contract.num_grippers))
        for arm, slot in enumerate(self.gripper_slot):
            grip[..., 0, slot] = self.gripper_to_cosmos3(a[..., arm, 6], arm)
        poses = pair[..., 0, :, :] if P == 1 else pair
        raw = self.emb.poses_to_actions(poses, grip[..., 0] if grip.shape[-1] == 1 else grip)[..., 0, :]
        return target, raw

    def from_raw(self, tcp: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Raw Cosmos3 rows ``(B, D)`` at arm TCP poses ``(B, arms, 4, 4)`` → native ``(B, 7·arms)``.

        Inverse of :meth:`command` inside the action box; rows outside it (a model asking for more than
        one step's reach) are clipped to ``[-1, 1]``.
        """
        P = self.emb.num_poses
        start = np.broadcast_to(np.eye(4), (*raw.shape[:-1], P, 4, 4)).copy()
        for arm, block in enumerate(self.arm_block):
            start[..., block, :, :] = tcp[..., arm, :, :]
        poses = self.emb.actions_to_poses(raw[..., None, :], start if P > 1 else start[..., 0, :, :])
        target = poses[..., 1, :, :, :] if P > 1 else poses[..., 1, None, :, :]
        grip = self.emb.gripper_from_actions(raw[..., None, :])  # (B, 1) or (B, 1, G): drop the T axis
        grip = grip if self.emb.contract.num_grippers == 1 else grip[..., 0, :]
        out = np.empty((*raw.shape[:-1], self.num_arms, 7))
        for arm, block in enumerate(self.arm_block):
            cur = tcp[..., arm, :, :]
            out[..., arm, :3] = (target[..., block, :3, 3] - cur[..., :3, 3]) / self.max_t
            rel = target[..., block, :3, :3] @ np.swapaxes(cur[..., :3, :3], -1, -2)
            out[..., arm, 3:6] = matrix_to_axis_angle(rel) / self.max_r
            out[..., arm, 6] = self.gripper_from_cosmos3(grip[..., self.gripper_slot[arm]], arm)
        return np.clip(out.reshape(*raw.shape[:-1], 7 * self.num_arms), -1.0, 1.0)
