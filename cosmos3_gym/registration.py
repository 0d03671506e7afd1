"""Gymnasium registration: one id per embodiment × task × backend, discovered from the YAMLs."""

from __future__ import annotations

import gymnasium as gym
import yaml

from cosmos3_gym.embodiment import embodiments_dir, list_embodiments
from cosmos3_gym.tasks import TASKS

TWIN_ENTRY = "cosmos3_gym.sim.twin_env:MujocoTwinEnv"
LEARNED_ENTRY = "cosmos3_gym.envs.learned_env:make_env"
VECTOR_ENTRY = "cosmos3_gym.envs.learned_vector:LearnedVectorEnv"
DEFAULT_TASK = "lift"


def _gym_names() -> dict[str, str]:
    """embodiment name → ``gym_name`` (read without full validation so that import stays cheap)."""
    return {n: yaml.safe_load((embodiments_dir() / f"{n}.yaml").read_text())["gym_name"] for n in list_embodiments()}


def robot_name(embodiment: str) -> str:
    """The ``<Robot>`` part of an embodiment's ids (its YAML ``gym_name``)."""
    names = _gym_names()
    if embodiment not in names:
        raise ValueError(f"unknown embodiment {embodiment!r}; shipped: {', '.join(sorted(names))}")
    return names[embodiment]


def twin_ids() -> list[str]:
    """Every registered MuJoCo-twin id."""
    return sorted(i for i in gym.registry if i.startswith("Cosmos3-") and i.endswith("-MuJoCo-v0"))


def learned_ids() -> list[str]:
    """Every registered learned-simulator id."""
    return sorted(i for i in gym.registry if i.startswith("Cosmos3-") and i.endswith("-v0") and "-MuJoCo-" not in i)


def register_all() -> None:
    """Register ``Cosmos3-<Robot>[-<Task>]-v0`` (learned) and ``…-MuJoCo-v0`` (twin) for every shipped
    embodiment and task (idempotent)."""
    for emb, robot in _gym_names().items():
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
