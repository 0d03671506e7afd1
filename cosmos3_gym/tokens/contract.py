"""The Cosmos3 action contract: TCP poses + gripper ⇄ raw actions ⇄ model space ⇄ 64-channel tokens.

Raw action row i (contract §2.0) is the framewise rigid delta ``ΔT_i = T_i⁻¹ · T_{i+1}`` of each
pose block, taken after the fixed per-robot to-OpenCV rotation (and TCP→flange offset), encoded as
``[dpos(3) in frame-i axes, rot6d(6)]``, with the gripper value (Cosmos3 convention) at its layout
slot. Model space is the quantile map ``2·(x − q01)/(q99 − q01) − 1``; tokens are model-space rows
zero-padded to 64 channels (``max_action_dim`` of Cosmos3-Nano), with a channel mask.
"""

from __future__ import annotations

import numpy as np

from cosmos3_gym.embodiment.spec import MAX_ACTION_DIM, POSE_BLOCK_DIM, EmbodimentSpec
from cosmos3_gym.tokens.rotation import invert, make_transform, matrix_to_rot6d, rot6d_to_matrix


class ActionContract:
    """Conversions for one embodiment; all methods take arbitrary leading batch dims (numpy)."""

    def __init__(self, spec: EmbodimentSpec) -> None:
        self.spec = spec
        c = spec.cosmos3
        ee_by_name = {e.name: e for e in spec.end_effectors}
        grip_names = [g.name for g in spec.grippers]
        # Pose blocks and gripper slots in raw-action channel order.
        self.pose_names = tuple(b for b in c.layout if b in ee_by_name)
        self.gripper_names = tuple(b for b in c.layout if b in grip_names)
        self.pose_slices: list[slice] = []
        self.gripper_channels: list[int] = []
        offset = 0
        for block in c.layout:
            if block in ee_by_name:
                self.pose_slices.append(slice(offset, offset + POSE_BLOCK_DIM))
                offset += POSE_BLOCK_DIM
            else:
                self.gripper_channels.append(offset)
                offset += 1
        self.raw_dim = c.raw_action_dim
        self.to_cosmos3 = np.stack([ee_by_name[n].to_cosmos3 for n in self.pose_names])  # (P, 4, 4)
        self.from_cosmos3 = invert(self.to_cosmos3)
        self.q01 = np.asarray(c.stats.q01, dtype=np.float64)
        self.q99 = np.asarray(c.stats.q99, dtype=np.float64)
        self.clamp = c.clamp
        self.mask = np.zeros(MAX_ACTION_DIM, dtype=bool)
        self.mask[: self.raw_dim] = True

    @property
    def num_poses(self) -> int:
        return len(self.pose_names)

    @property
    def num_grippers(self) -> int:
        return len(self.gripper_names)

    # -- shapes ------------------------------------------------------------------------------------
    def _pose_view(self, poses: np.ndarray, what: str) -> np.ndarray:
        """``(..., [P,] 4, 4)`` → ``(..., P, 4, 4)`` float64 (a P axis only when P > 1)."""
        poses = np.asarray(poses, dtype=np.float64)
        if self.num_poses == 1:
            if poses.ndim < 2 or poses.shape[-2:] != (4, 4):
                raise ValueError(f"{self.spec.name}: {what} must have shape (..., 4, 4), got {poses.shape}")
            return poses[..., None, :, :]
        if poses.ndim < 3 or poses.shape[-3:] != (self.num_poses, 4, 4):
            raise ValueError(
                f"{self.spec.name}: {what} must have shape (..., {self.num_poses}, 4, 4) "
                f"for the pose blocks {self.pose_names}, got {poses.shape}"
            )
        return poses

    def _gripper_view(self, gripper: np.ndarray, steps: int) -> np.ndarray:
        gripper = np.asarray(gripper, dtype=np.float64)
        if self.num_grippers == 1:  # (..., T) → (..., T, 1)
            gripper = gripper[..., None]
        if gripper.shape[-1] != self.num_grippers or gripper.ndim < 2 or gripper.shape[-2] != steps:
            want = f"(..., {steps})" if self.num_grippers == 1 else f"(..., {steps}, {self.num_grippers})"
            raise ValueError(
                f"{self.spec.name}: gripper must have shape {want} for {self.gripper_names}, got {gripper.shape}"
            )
        return gripper

    def _check_raw(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim < 1 or raw.shape[-1] != self.raw_dim:
            raise ValueError(f"{self.spec.name}: raw actions must have shape (..., {self.raw_dim}), got {raw.shape}")
        return raw

    # -- poses ⇄ raw -------------------------------------------------------------------------------
    def poses_to_actions(self, poses: np.ndarray, gripper: np.ndarray) -> np.ndarray:
        """Absolute native TCP poses + gripper → raw Cosmos3 actions.

        Args:
            poses: ``(..., T+1, 4, 4)`` (or ``(..., T+1, P, 4, 4)`` with P pose blocks, e.g. AgiBot
                head camera, right wrist, left wrist) in the base frame, metres.
            gripper: ``(..., T)`` (or ``(..., T, G)``) in the Cosmos3 convention (0 closed … 1 open,
                UMI: width in metres).
        Returns:
            ``(..., T, raw_action_dim)`` float64.
        """
        tf = self._pose_view(poses, "poses")
        if tf.shape[-4] < 2:
            raise ValueError(f"{self.spec.name}: poses need at least 2 frames (T+1 >= 2), got {tf.shape[-4]}")
        grip = self._gripper_view(gripper, tf.shape[-4] - 1)
        cosmos = tf @ self.to_cosmos3  # T_cosmos3 = T_tcp @ [[M, t], [0, 1]]
        rot_t = np.swapaxes(cosmos[..., :-1, :, :3, :3], -1, -2)
        d_rot = rot_t @ cosmos[..., 1:, :, :3, :3]
        d_pos = np.einsum("...ij,...j->...i", rot_t, cosmos[..., 1:, :, :3, 3] - cosmos[..., :-1, :, :3, 3])
        blocks = np.concatenate([d_pos, matrix_to_rot6d(d_rot)], axis=-1)  # (..., T, P, 9)
        raw = np.empty((*blocks.shape[:-2], self.raw_dim), dtype=np.float64)
        for p, sl in enumerate(self.pose_slices):
            raw[..., sl] = blocks[..., p, :]
        for g, ch in enumerate(self.gripper_channels):
            raw[..., ch] = grip[..., g]
        return raw

    def actions_to_poses(self, raw: np.ndarray, initial_pose: np.ndarray, orthonormalize: bool = True) -> np.ndarray:
        """Exact inverse of :meth:`poses_to_actions` for the poses.

        Args:
            raw: ``(..., T, raw_action_dim)``.
            initial_pose: native TCP pose of frame 0, ``(..., 4, 4)`` (``(..., P, 4, 4)`` for P > 1).
            orthonormalize: Gram-Schmidt the decoded rot6d (needed for model outputs).
        Returns:
            ``(..., T+1, 4, 4)`` (``(..., T+1, P, 4, 4)``) native TCP poses; frame 0 = ``initial_pose``.
        """
        raw = self._check_raw(raw)
        start = self._pose_view(initial_pose, "initial_pose")
        blocks = np.stack([raw[..., sl] for sl in self.pose_slices], axis=-2)  # (..., T, P, 9)
        deltas = make_transform(rot6d_to_matrix(blocks[..., 3:], orthonormalize), blocks[..., :3])
        current = np.broadcast_to(start @ self.to_cosmos3, (*deltas.shape[:-4], *start.shape[-3:])).copy()
        frames = [current]
        for i in range(deltas.shape[-4]):
            current = current @ deltas[..., i, :, :, :]
            frames.append(current)
        out = np.stack(frames, axis=-4) @ self.from_cosmos3
        return out[..., 0, :, :] if self.num_poses == 1 else out

    def gripper_from_actions(self, raw: np.ndarray) -> np.ndarray:
        """Raw actions ``(..., T, D)`` → gripper values ``(..., T)`` (``(..., T, G)`` for G > 1)."""
        grip = self._check_raw(raw)[..., self.gripper_channels]
        return grip[..., 0] if self.num_grippers == 1 else grip

    # -- raw ⇄ model space ⇄ tokens -------------------------------------------------------------------
    def normalize(self, raw: np.ndarray) -> np.ndarray:
        """Quantile map raw ``(..., D)`` → model space ``(..., D)``; q01 → -1, q99 → +1.

        Clamped to [-1, 1] only when the YAML sets ``cosmos3.clamp`` (the cookbook's DROID variant);
        the dataset default is unclamped, which keeps the map invertible.
        """
        x = 2.0 * (self._check_raw(raw) - self.q01) / (self.q99 - self.q01) - 1.0
        return np.clip(x, -1.0, 1.0) if self.clamp else x

    def denormalize(self, x: np.ndarray) -> np.ndarray:
        """Model space ``(..., D)`` → raw ``(..., D)``; inverse of :meth:`normalize`."""
        return (self._check_raw(x) + 1.0) * (self.q99 - self.q01) / 2.0 + self.q01

    def to_tokens(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw ``(..., D)`` → (tokens ``(..., 64)`` float64 in model space, zero-padded; mask ``(64,)``
        bool, True on the D real channels)."""
        x = self.normalize(raw)
        tokens = np.zeros((*x.shape[:-1], MAX_ACTION_DIM), dtype=np.float64)
        tokens[..., : self.raw_dim] = x
        return tokens, self.mask.copy()

    def from_tokens(self, tokens: np.ndarray) -> np.ndarray:
        """Tokens ``(..., 64)`` → raw ``(..., D)``: cut to the real channels, de-normalize."""
        tokens = np.asarray(tokens, dtype=np.float64)
        if tokens.ndim < 1 or tokens.shape[-1] != MAX_ACTION_DIM:
            raise ValueError(f"{self.spec.name}: tokens must have shape (..., {MAX_ACTION_DIM}), got {tokens.shape}")
        return self.denormalize(tokens[..., : self.raw_dim])
