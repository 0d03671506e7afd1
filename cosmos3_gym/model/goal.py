"""What the reasoner's task token reads about the goal.

A ``goal_relative`` model reads the goal error ``(goal − achieved) / 0.1 m``, the achieved goal taken
from the current state the way the task defines it (first arm's TCP for Reach, cube for Push/Lift): the
quantity an expert acts on, the same for every embodiment. A raw goal in metres is one small input among
many and needs another mapping for every goal; a policy head given it ignores it
(``benchmarks/results/goal_input_ablation.md``). Only the policy mode reads the goal
(:meth:`~cosmos3_gym.model.world_model.WorldModel.context`): fed to every mode, it leaks into forward
dynamics, whose predictions then move when only the goal moves (``benchmarks/results/goal_leak.json``).
Checkpoints without ``goal_relative`` read the raw goal.
"""

from __future__ import annotations

import numpy as np

from cosmos3_gym.embodiment.layout import ObsLayout
from cosmos3_gym.tasks import get_task

#: Goal errors are fed in units of 10 cm (the size of the goal boxes), so they are O(1).
GOAL_SCALE_M = 0.1


def goal_input(relative: bool, layout: ObsLayout, task: str, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """The task token's goal input ``(..., 3)`` float32 for states ``(..., S)`` and goals ``(..., 3)`` (m):
    the raw goal, or for a ``relative`` model the scaled goal error from ``state``."""
    goal = np.asarray(goal, dtype=np.float64)
    if not relative:
        return goal.astype(np.float32)
    achieved = layout.achieved(np.asarray(state, dtype=np.float64), get_task(task).goal_part)
    return ((goal - achieved) / GOAL_SCALE_M).astype(np.float32)


def relation_input(layout: ObsLayout, state: np.ndarray) -> np.ndarray:
    """The cube relative to the first arm's TCP, ``(cube − tcp) / 0.1 m`` ``(..., 3)`` float32 for states
    ``(..., S)``: what grasping and pushing act on, read by a policy expert's task token (the absolute
    positions it would otherwise difference are each one normalized input among many)."""
    state = np.asarray(state, dtype=np.float64)
    return ((layout.get(state, "cube_pos") - layout.arm(state, "tcp_pos", 0)) / GOAL_SCALE_M).astype(np.float32)
