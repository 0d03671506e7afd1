"""Spaces and action checks of an embodiment, shared by every backend so that a learned id and its twin are
identical from outside."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from cosmos3_gym.embodiment.spec import EmbodimentSpec


def action_space(spec: EmbodimentSpec) -> spaces.Box:
    """Native action: float32 ``Box(-1, 1, (7 · arms,))`` = per arm [dx, dy, dz, rx, ry, rz, gripper]."""
    return spaces.Box(-1.0, 1.0, shape=(spec.action.dim,), dtype=np.float32)


def observation_space(obs_size: int) -> spaces.Dict:
    """gymnasium-robotics goal convention: ``observation`` (state vector), ``achieved_goal``, ``desired_goal``."""
    return spaces.Dict(
        {
            "observation": spaces.Box(-np.inf, np.inf, shape=(obs_size,), dtype=np.float64),
            "achieved_goal": spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float64),
            "desired_goal": spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float64),
        }
    )


def check_action(action: object, shape: tuple[int, ...]) -> np.ndarray:
    """Validate and clip an action batch or single action to ``[-1, 1]`` (float64).

    Raises ``ValueError`` for a wrong shape or any NaN/inf; out-of-range values are clipped, exactly as
    the MuJoCo twin's controller clips them.
    """
    arr = np.asarray(action, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"action must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"action must be finite, got NaN or inf at indices {np.argwhere(~np.isfinite(arr)).tolist()}")
    return np.clip(arr, -1.0, 1.0)
