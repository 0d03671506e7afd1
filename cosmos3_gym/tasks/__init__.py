"""Tasks: reward, termination, success and goal sampling as pure batched functions (both backends)."""

from cosmos3_gym.tasks.tasks import (
    REWARD_TYPES,
    TASKS,
    Task,
    compute_reward,
    get_task,
    goal_distance,
    is_success,
    is_terminated,
    sample_goal,
)

__all__ = [
    "REWARD_TYPES",
    "TASKS",
    "Task",
    "compute_reward",
    "get_task",
    "goal_distance",
    "is_success",
    "is_terminated",
    "sample_goal",
]
