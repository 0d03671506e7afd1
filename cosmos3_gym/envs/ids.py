"""Gymnasium ids: ``Cosmos3-<Robot>[-<Task>]-v0`` (learned) and ``…-MuJoCo-v0`` (twin), built and parsed.

``<Robot>`` is the embodiment YAML's ``gym_name``; the bare ``Cosmos3-<Robot>-v0`` is the Lift task. Kept
cheap (YAML read without validation, no MuJoCo or torch) because ``import cosmos3_gym`` registers the ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym

from cosmos3_gym.embodiment.catalog import embodiment_files, is_yaml_path, resolve_name, yaml_field

TWIN_ENTRY = "cosmos3_gym.sim.twin_env:MujocoTwinEnv"
LEARNED_ENTRY = "cosmos3_gym.envs.learned_env:make_env"
VECTOR_ENTRY = "cosmos3_gym.envs.learned_vector:LearnedVectorEnv"
#: The task of the bare ``Cosmos3-<Robot>-v0`` id.
DEFAULT_TASK = "lift"


def gym_names() -> dict[str, str]:
    """Known embodiment name (shipped, on the search path, registered) → its YAML ``gym_name``."""
    return {n: str(yaml_field(p, "gym_name")) for n, p in embodiment_files().items()}


def robot_name(embodiment: str) -> str:
    """The ``<Robot>`` part of an embodiment's ids (its YAML ``gym_name``); a name or a YAML path."""
    if is_yaml_path(embodiment):
        return str(yaml_field(Path(embodiment), "gym_name"))
    return gym_names()[resolve_name(embodiment)]


def env_id(embodiment: str, task: str, twin: bool = False) -> str:
    """``Cosmos3-<Robot>-<Task>-v0``, or its ``-MuJoCo-v0`` twin."""
    return f"Cosmos3-{robot_name(embodiment)}-{task.capitalize()}{'-MuJoCo' if twin else ''}-v0"


def twin_ids() -> list[str]:
    """Every registered MuJoCo-twin id."""
    return sorted(i for i, s in gym.registry.items() if s.entry_point == TWIN_ENTRY)


def learned_ids() -> list[str]:
    """Every registered learned-simulator id."""
    return sorted(i for i, s in gym.registry.items() if s.entry_point == LEARNED_ENTRY)


@dataclass(frozen=True)
class EnvTarget:
    """An id resolved to its parts. ``learned`` is False for a ``…-MuJoCo-v0`` id (the twin)."""

    env_id: str
    embodiment: str
    task: str
    learned: bool
    max_episode_steps: int

    @property
    def twin_id(self) -> str:
        return self.env_id if not self.learned else self.env_id[: -len("-v0")] + "-MuJoCo-v0"

    @property
    def learned_id(self) -> str:
        return self.env_id if self.learned else self.env_id[: -len("-MuJoCo-v0")] + "-v0"


def resolve_env(env_id: str, learned_only: bool = False) -> EnvTarget:
    """A registered learned (or, unless ``learned_only``, twin) id → :class:`EnvTarget`; anything else
    raises ``ValueError`` naming what is allowed."""
    spec = gym.registry.get(env_id)
    allowed = (LEARNED_ENTRY,) if learned_only else (LEARNED_ENTRY, TWIN_ENTRY)
    if spec is None or spec.entry_point not in allowed:
        if learned_only:
            hint = f" ({env_id} is a MuJoCo twin id; give the learned id {env_id[: -len('-MuJoCo-v0')]}-v0)"
            hint = hint if spec is not None and spec.entry_point == TWIN_ENTRY else ""
            raise ValueError(f"unknown env id {env_id!r}{hint}; learned ids: {', '.join(learned_ids())}")
        raise ValueError(
            f"unknown env id {env_id!r}; allowed: a learned id ({', '.join(learned_ids()[:3])}, ...) "
            f"or a MuJoCo twin id ({', '.join(twin_ids()[:3])}, ...)"
        )
    kw = spec.kwargs
    emb = kw["embodiment"]  # ids of a registered YAML carry its path (a spawned worker knows no registry)
    name = str(yaml_field(Path(emb), "name")) if is_yaml_path(emb) else emb
    return EnvTarget(env_id, name, kw["task"], spec.entry_point == LEARNED_ENTRY, int(spec.max_episode_steps))
