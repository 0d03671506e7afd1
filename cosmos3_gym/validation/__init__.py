"""Validation: the world model against MuJoCo (paired rollouts, per-horizon errors, reports)."""

from cosmos3_gym.validation.api import ValidationArgumentError, validate
from cosmos3_gym.validation.backends import Backend, BiasedBackend, LearnedBackend, MujocoBackend, StartState

__all__ = [
    "Backend",
    "BiasedBackend",
    "LearnedBackend",
    "MujocoBackend",
    "StartState",
    "ValidationArgumentError",
    "validate",
]
