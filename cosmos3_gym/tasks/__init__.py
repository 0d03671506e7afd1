"""Tasks: reward, termination, success and goal sampling as pure batched functions (both backends), and the
seed splits (:mod:`cosmos3_gym.tasks.splits`)."""

from cosmos3_gym.tasks.rewards import effector, effector_from_info
from cosmos3_gym.tasks.splits import SPLITS, TRAIN_SEED_LIMIT, check_split, rl_seeds, seed_split, split_seeds
from cosmos3_gym.tasks.tasks import (
    REWARD_TYPES,
    TASKS,
    Task,
    check_reward_type,
    compute_reward,
    get_task,
    goal_distance,
    is_success,
    is_terminated,
    sample_goal,
)

__all__ = [
    "REWARD_TYPES",
    "SPLITS",
    "TASKS",
    "TRAIN_SEED_LIMIT",
    "Task",
    "check_reward_type",
    "check_split",
    "compute_reward",
    "effector",
    "effector_from_info",
    "get_task",
    "goal_distance",
    "is_success",
    "is_terminated",
    "rl_seeds",
    "sample_goal",
    "seed_split",
    "split_seeds",
]
