"""What the reasoner's task token reads about the goal.

Checkpoints from before ``goal_relative`` read the goal in raw metres; the policy head of such a model
ignored it (its Reach actions did not change when the goal moved 10 cm), because an absolute target
is one small input among many and every goal needs a different mapping of the state. A
``goal_relative`` model reads the goal error instead, ``(goal − achieved) / 0.1 m`` with the achieved
goal taken from the current state the way the task defines it (first arm's TCP for Reach, cube for
Push/Lift): the quantity an expert acts on, the same for every embodiment. Only the policy mode reads it
(:meth:`~cosmos3_gym.model.world_model.WorldModel.context`): a checkpoint trained with the goal error in
every mode (v5, not shipped) let it leak into forward dynamics, whose Reach predictions then moved
2-25 mm when only the goal moved 10 cm (v3: under 1 mm).
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
