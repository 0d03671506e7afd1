"""Gymnasium registration: one id per embodiment × task × backend, discovered from the YAMLs."""

from __future__ import annotations

import gymnasium as gym

from cosmos3_gym.envs.ids import (
    DEFAULT_TASK,
    LEARNED_ENTRY,
    TWIN_ENTRY,
    VECTOR_ENTRY,
    env_id,
    gym_names,
    learned_ids,
    resolve_env,
    robot_name,
    twin_ids,
)
from cosmos3_gym.tasks import TASKS

__all__ = ["env_id", "learned_ids", "register_all", "resolve_env", "robot_name", "twin_ids"]


def register_all() -> None:
    """Register ``Cosmos3-<Robot>[-<Task>]-v0`` (learned) and ``…-MuJoCo-v0`` (twin) for every shipped
    embodiment and task (idempotent)."""
    for emb, robot in gym_names().items():
        for task_name, task in TASKS.items():
            stems = [f"Cosmos3-{robot}-{task_name.capitalize()}"]
            if task_name == DEFAULT_TASK:
                stems.append(f"Cosmos3-{robot}")  # the bare id is the Lift task
            for stem in stems:
                kwargs = {"embodiment": emb, "task": task_name}
                if f"{stem}-MuJoCo-v0" not in gym.registry:
                    gym.register(
                        f"{stem}-MuJoCo-v0",
                        entry_point=TWIN_ENTRY,
                        max_episode_steps=task.max_episode_steps,
                        kwargs=kwargs,
                    )
                if f"{stem}-v0" not in gym.registry:
                    gym.register(
                        f"{stem}-v0",
                        entry_point=LEARNED_ENTRY,
                        vector_entry_point=VECTOR_ENTRY,
                        max_episode_steps=task.max_episode_steps,
                        kwargs=kwargs,
                    )
