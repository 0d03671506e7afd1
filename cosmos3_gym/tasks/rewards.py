"""The staged dense reward of Push and Lift, normalized to ``[0, 1]`` per step, batched.

Shaped like ManiSkill3's ``normalized_dense`` PushCube / PickCube rewards (its PPO baselines solve those
tasks with it), on quantities both backends observe, so the MuJoCo twin and the learned simulator
compute the same number from the same state:

- **Lift**: ``reach + grasped · (1 + place)``, with ``reach = 1 − tanh(5 · |tcp − cube|)`` (the arm
  whose TCP is nearest the cube), ``grasped`` = that TCP within a cube half-size of the cube's centre and
  its gripper closed on the cube (opening within :data:`GRASP_WIDTH_TOL_M` of the cube's size), and
  ``place = 1 − tanh(5 · |cube − goal|)``; divided by 3, and exactly 1 on a success step.
- **Push**: ``reach + place``, with ``reach`` towards the push point, :data:`PUSH_BEHIND_M` behind the
  cube's face on the goal → cube line at 1.5 half-sizes above the table (where the scripted expert pushes),
  and ``place = 1 − tanh(5 · |cube_xy − goal_xy|)``; divided by 2, and exactly 1 on a success step.

The reward reads the TCPs and gripper openings as well as the goals, so ``compute_reward`` takes them as
an ``effector`` array ``(..., arms, 4)`` (TCP xyz in m, opening in m): the envs put it in every step's
``info['effector']``, which is how HER relabelling gets it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cosmos3_gym.embodiment.layout import ObsLayout
from cosmos3_gym.embodiment.spec import Workspace

#: Distance scale of every stage's ``1 − tanh(k · d)`` (1/m): ManiSkill3's 5 (half reward at 11 cm).
TANH_GAIN = 5.0
#: A closed grasp: the opening within this of the cube's size (m); the twins grasp within 0.3 mm of it.
GRASP_WIDTH_TOL_M = 0.004
#: The push point's distance behind the cube's face (m): room for the closed fingers.
PUSH_BEHIND_M = 0.015
#: The push point's height above the table, in cube half-sizes (the scripted expert's).
PUSH_HEIGHT = 1.5


def effector(layout: ObsLayout, state: np.ndarray) -> np.ndarray:
    """The TCP positions and gripper openings of every arm: ``state (..., S) → (..., arms, 4)`` (m).

    Without a ``gripper_width`` observation part the opening is NaN, and no grasp is ever credited."""
    state = np.asarray(state, dtype=np.float64)
    tcp = layout.get(state, "tcp_pos").reshape(*state.shape[:-1], layout.num_arms, 3)
    if "gripper_width" in layout.parts:
        width = layout.get(state, "gripper_width")[..., None]
    else:
        width = np.full((*state.shape[:-1], layout.num_arms, 1), np.nan)
    return np.concatenate([tcp, width], axis=-1)


def effector_from_info(info: Any) -> np.ndarray | None:
    """``info['effector']`` of one step's info dict ``(arms, 4)``, or stacked over a sequence of them
    ``(B, arms, 4)`` (what HER relabelling passes); None when absent."""
    if isinstance(info, Mapping):
        return None if "effector" not in info else np.asarray(info["effector"], dtype=np.float64)
    if isinstance(info, np.ndarray | Sequence) and len(info) and all(isinstance(i, Mapping) for i in info):
        if all("effector" in i for i in info):
            return np.stack([np.asarray(i["effector"], dtype=np.float64) for i in info])
    return None


def _stage(distance: np.ndarray) -> np.ndarray:
    return 1.0 - np.tanh(TANH_GAIN * distance)


def staged_reward(
    task_name: str, ws: Workspace, effector: np.ndarray, cube: np.ndarray, goal: np.ndarray, success: np.ndarray
) -> np.ndarray:
    """The staged reward in ``[0, 1]`` ``(...)``: ``effector (..., arms, 4)``, ``cube (..., 3)`` (the achieved
    goal), ``goal (..., 3)``, ``success (...)`` bool (m throughout)."""
    eff = np.asarray(effector, dtype=np.float64)
    cube, goal = np.asarray(cube, dtype=np.float64), np.asarray(goal, dtype=np.float64)
    if eff.shape[-1] != 4 or eff.shape[:-2] != np.broadcast_shapes(cube.shape[:-1], goal.shape[:-1]):
        raise ValueError(f"effector must be (..., arms, 4) over the goals' batch {cube.shape[:-1]}, got {eff.shape}")
    tcp, width, half = eff[..., :3], eff[..., 3], ws.cube_half_size
    if task_name == "lift":
        dist = np.linalg.norm(tcp - cube[..., None, :], axis=-1)  # (..., arms)
        arm = np.argmin(dist, axis=-1)[..., None]
        near = np.take_along_axis(dist, arm, -1)[..., 0]
        opening = np.take_along_axis(width, arm, -1)[..., 0]
        grasped = (near < half) & (np.abs(opening - 2 * half) < GRASP_WIDTH_TOL_M)
        raw = (_stage(near) + grasped * (1.0 + _stage(np.linalg.norm(cube - goal, axis=-1)))) / 3.0
    elif task_name == "push":
        to_goal = goal[..., :2] - cube[..., :2]
        unit = to_goal / np.maximum(np.linalg.norm(to_goal, axis=-1, keepdims=True), 1e-9)
        point_xy = cube[..., :2] - unit * (half + PUSH_BEHIND_M)
        point = np.concatenate([point_xy, np.full((*point_xy.shape[:-1], 1), ws.table_z + PUSH_HEIGHT * half)], -1)
        reach = _stage(np.linalg.norm(tcp - point[..., None, :], axis=-1).min(-1))
        raw = (reach + _stage(np.linalg.norm(to_goal, axis=-1))) / 2.0
    else:
        raise ValueError(f"the staged reward is for push and lift, not {task_name!r}")
    return np.where(success, 1.0, raw)
