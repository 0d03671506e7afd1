"""Physical units ⇄ model space for one embodiment of a checkpoint: the one place that normalizes.

States enter the model as ``(s − mean) / std`` (history) and leave as chunk-relative deltas in units of
``dstd``; actions enter as Cosmos3 tokens (the contract's quantile map, zero-padded to 64 channels);
masks mark the real channels of the padded state and action. The environments and
:class:`~cosmos3_gym.model.inference.ModeRunner` both build their model inputs here.
"""

from __future__ import annotations

import numpy as np

from cosmos3_gym.embodiment.spec import MAX_ACTION_DIM
from cosmos3_gym.model.checkpoint import Checkpoint
from cosmos3_gym.model.config import STATE_DIM
from cosmos3_gym.model.contact_gate import ContactGate
from cosmos3_gym.tokens import Embodiment


def not_trained_message(ckpt: Checkpoint, emb: Embodiment) -> str:
    """Why a checkpoint cannot simulate ``emb``, and what to do: the twin works now; the learned ids need a
    checkpoint trained on the robot (a user's robot is in no shipped checkpoint)."""
    where = "the shipped model" if ckpt.path is None or ckpt.path.name == "default" else f"checkpoint {ckpt.path}"
    return (
        f"{where} was not trained on {emb.name!r} (it covers {', '.join(sorted(ckpt.stats))}). Its MuJoCo twin "
        f"Cosmos3-{emb.spec.gym_name}-<Task>-MuJoCo-v0 works now; for the learned ids train a checkpoint on it: "
        f"cosmos3-gym collect --embodiment {emb.spec.source_file} ... --out DATA, then cosmos3-gym train --data "
        "DATA --init-from default --out CKPT, and pass model=CKPT (see README, 'Add your robot')"
    )


class ModelSpace:
    """Normalization stats and channel masks of ``emb`` in ``ckpt``; arrays are numpy, float32 where they
    go to the model. ``S`` = the embodiment's observation size, padded to ``STATE_DIM`` for the model."""

    def __init__(self, ckpt: Checkpoint, emb: Embodiment) -> None:
        if emb.name not in ckpt.stats:
            raise ValueError(not_trained_message(ckpt, emb))
        stats = ckpt.stats[emb.name]
        if stats.size != emb.layout.size:
            raise ValueError(
                f"checkpoint {ckpt.path}: state size {stats.size} != {emb.name} observation size {emb.layout.size}"
            )
        self.emb, self.size, self.history_len = emb, stats.size, ckpt.model.cfg.history
        self.mean, self.std, self.dstd = stats.arrays()
        #: Per-channel scale of the generated residual (``STATE_DIM``,), 1 on padding.
        self.residual_scale = np.ones(STATE_DIM, np.float32)
        self.residual_scale[: self.size] = stats.residual_scale()
        # The calibrated share of the learned TCP residual (``cosmos3-gym calibrate-fd``; 1 = as trained).
        for part in ("tcp_pos", "tcp_rot6d"):
            self.residual_scale[emb.layout.parts[part]] *= stats.tcp_residual_gate
        #: TCP prior through the controller's IK step (CommandPrior.reach), not at the commanded pose.
        self.kinematic_prior = stats.kinematic_prior
        #: ... and from there through the arms' position servos (JointServo).
        self.servo_prior = stats.servo_prior
        #: With it, how deep (m) a gripper sinks into the table where it stops (None: no table stop), and whether
        #: the fingers move through their actuators (FingerServo) instead of as generated, and whether such
        #: fingers strike the cube and a struck cube slides (CubeMotion).
        self.table_depth, self.finger_servo = stats.table_depth_m, stats.finger_servo
        self.cube_motion = stats.cube_motion
        #: Scale of the inverse-dynamics action residual (``MAX_ACTION_DIM``,) and its calibrated gate.
        self.action_residual_scale = stats.action_residual_scale(MAX_ACTION_DIM).astype(np.float32)
        self.id_gate = stats.id_residual_gate
        #: The learned contact mode (None: the checkpoint has none).
        self.contact_gate = ContactGate(**stats.contact_gate) if stats.contact_gate else None
        self.state_mask = np.zeros(STATE_DIM, np.float32)
        self.state_mask[: self.size] = 1.0
        self.action_mask = np.zeros(MAX_ACTION_DIM, np.float32)
        self.action_mask[: emb.raw_action_dim] = 1.0

    def history(self, states: np.ndarray) -> np.ndarray:
        """States ``(B, T, S)`` → the model's normalized history ``(B, H, STATE_DIM)`` float32: the last
        ``H`` states; a shorter sequence is front-padded with its oldest state, as at an episode start."""
        h = states[:, -self.history_len :]
        if h.shape[1] < self.history_len:
            h = np.concatenate([np.repeat(h[:, :1], self.history_len - h.shape[1], 1), h], 1)
        out = np.zeros((len(h), self.history_len, STATE_DIM), np.float32)
        out[..., : self.size] = (h - self.mean) / self.std
        return out

    def tokens(self, raw: np.ndarray) -> np.ndarray:
        """Raw Cosmos3 actions ``(..., D)`` → tokens ``(..., 64)`` float32 (quantile map, zero-padded)."""
        return self.emb.to_tokens(raw)[0].astype(np.float32)

    def deltas(self, states: np.ndarray, start: np.ndarray) -> np.ndarray:
        """States ``(..., S)`` relative to ``start`` → model-space deltas ``(..., STATE_DIM)`` float32 (the
        forward prior and the inverse-dynamics future)."""
        out = np.zeros((*states.shape[:-1], STATE_DIM), np.float32)
        out[..., : self.size] = (states - start) / self.dstd
        return out

    def states(self, start: np.ndarray, deltas: np.ndarray) -> np.ndarray:
        """Model-space deltas ``(..., ≥S)`` from ``start (..., S)`` → states ``(..., S)`` float64."""
        return start + deltas[..., : self.size] * self.dstd
