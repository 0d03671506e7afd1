"""Reach, Push and Lift as pure batched functions of observations and goals.

Shared unchanged by the MuJoCo twin and the learned simulator. Conventions follow
gymnasium-robotics Fetch: goal-conditioned ``Dict`` observations, ``compute_reward(achieved, desired,
info)`` vectorised over any leading batch shape (HER-ready), success = goal distance below a
threshold, episodes end by time limit (truncation); the only termination is the cube leaving the
table (it cannot come back).

- Reach: move the first arm's TCP to a 3-D goal in the workspace goal box.
- Push: slide the cube to a goal on the table.
- Lift: pick the cube up and hold it ``lift_height`` above where it started.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosmos3_gym.embodiment.spec import Workspace
from cosmos3_gym.tasks.rewards import staged_reward

REWARD_TYPES = ("dense", "sparse")


@dataclass(frozen=True)
class Task:
    """Task constants. ``goal_part`` is the observation part the achieved goal is read from; ``staged``: the
    dense reward is the staged one in ``[0, 1]`` per step (:mod:`cosmos3_gym.tasks.rewards`), else ``-distance``."""

    name: str
    goal_part: str
    threshold_m: float
    max_episode_steps: int
    staged: bool


TASKS: dict[str, Task] = {
    "reach": Task("reach", "tcp_pos", 0.02, 50, staged=False),
    "push": Task("push", "cube_pos", 0.03, 100, staged=True),
    "lift": Task("lift", "cube_pos", 0.03, 100, staged=True),
}


def check_reward_type(reward_type: str) -> str:
    """``reward_type`` itself, or a one-line ValueError naming the allowed ones."""
    if reward_type not in REWARD_TYPES:
        raise ValueError(f"unknown reward_type {reward_type!r}; allowed: {', '.join(REWARD_TYPES)}")
    return reward_type


def get_task(name: str) -> Task:
    """Look a task up by case-insensitive name (``reach``, ``push``, ``lift``)."""
    key = name.lower()
    if key not in TASKS:
        raise ValueError(f"unknown task {name!r}; allowed: {', '.join(TASKS)}")
    return TASKS[key]


def goal_distance(achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
    """Euclidean distance (m) over the last axis: ``(..., 3), (..., 3) → (...)``."""
    return np.linalg.norm(np.asarray(achieved) - np.asarray(desired), axis=-1)


def is_success(achieved: np.ndarray, desired: np.ndarray, task: Task) -> np.ndarray:
    """``(...)`` bool: goal reached within the task threshold."""
    return goal_distance(achieved, desired) < task.threshold_m


def compute_reward(
    achieved: np.ndarray,
    desired: np.ndarray,
    task: Task,
    reward_type: str,
    effector: np.ndarray | None = None,
    ws: Workspace | None = None,
) -> np.ndarray:
    """Reward ``(...)`` float64 for goals ``(..., 3)``.

    ``sparse``: ``-(distance >= threshold)`` (Fetch). ``dense``: Reach ``-distance`` (m, Fetch); Push and
    Lift the staged reward in ``[0, 1]`` of :mod:`cosmos3_gym.tasks.rewards`, which also reads the TCPs and
    openings ``effector (..., arms, 4)`` and the workspace ``ws``.
    """
    d = goal_distance(achieved, desired)
    if reward_type == "sparse":
        return -(d >= task.threshold_m).astype(np.float64)
    check_reward_type(reward_type)
    if not task.staged:
        return -d
    if effector is None or ws is None:
        raise ValueError(
            f"the dense {task.name} reward needs the effector (TCPs and openings) and the workspace; "
            "pass info from the env's step(), which carries info['effector']"
        )
    return staged_reward(task.name, ws, effector, achieved, desired, d < task.threshold_m)


def is_terminated(cube_pos: np.ndarray, ws: Workspace) -> np.ndarray:
    """``(...)`` bool: the cube fell off the table (more than 5 cm below its surface)."""
    return np.asarray(cube_pos)[..., 2] < ws.table_z - 0.05


def sample_goal(rng: np.random.Generator, task: Task, ws: Workspace, cube_pos: np.ndarray) -> np.ndarray:
    """Draw a goal ``(3,)`` for one episode (after the cube was placed)."""
    if task.name == "reach":
        return rng.uniform(ws.goal_low, ws.goal_high)
    if task.name == "lift":
        return np.array([cube_pos[0], cube_pos[1], ws.table_z + ws.cube_half_size + ws.lift_height])
    # push: a table goal at least 6 cm from the cube, inside the spawn box.
    for _ in range(100):
        xy = rng.uniform(ws.cube_low, ws.cube_high)
        if np.linalg.norm(xy - cube_pos[:2]) >= 0.06:
            break
    return np.array([xy[0], xy[1], ws.table_z + ws.cube_half_size])
