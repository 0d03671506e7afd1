"""Gymnasium registration of every known embodiment, and of a user's robot YAML from any folder.

One id per embodiment × task × backend: ``Cosmos3-<Robot>[-<Task>]-v0`` (learned) and ``…-MuJoCo-v0``
(twin), ``<Robot>`` = the YAML's ``gym_name``. Kept cheap at import (YAML fields read without
validation, no MuJoCo or torch); :func:`register_embodiment` validates fully because a user calls it.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import gymnasium as gym
import yaml

from cosmos3_gym.embodiment.catalog import (
    add_embodiment_file,
    embodiment_files,
    is_yaml_path,
    resolve_name,
    shipped_embodiments,
    yaml_field,
)
from cosmos3_gym.envs.ids import DEFAULT_TASK, LEARNED_ENTRY, TWIN_ENTRY, VECTOR_ENTRY, gym_names
from cosmos3_gym.tasks import TASKS

if TYPE_CHECKING:
    from cosmos3_gym.tokens import Embodiment


def register_ids(embodiment: str, robot: str) -> list[str]:
    """Register the learned and twin ids of one embodiment for every task (idempotent); returns them.

    ``embodiment`` is what the env constructors receive: a known name, or a YAML path (so that a worker
    process that never saw :func:`register_embodiment` can still build the env from the pickled spec).
    """
    ids = []
    for task_name, task in TASKS.items():
        stems = [f"Cosmos3-{robot}-{task_name.capitalize()}"]
        if task_name == DEFAULT_TASK:
            stems.append(f"Cosmos3-{robot}")  # the bare id is the Lift task
        for stem in stems:
            kwargs = {"embodiment": embodiment, "task": task_name}
            for env_id, entry, vector in (
                (f"{stem}-MuJoCo-v0", TWIN_ENTRY, None),
                (f"{stem}-v0", LEARNED_ENTRY, VECTOR_ENTRY),
            ):
                if env_id not in gym.registry:
                    gym.register(
                        env_id,
                        entry_point=entry,
                        vector_entry_point=vector,
                        max_episode_steps=task.max_episode_steps,
                        kwargs=kwargs,
                    )
                ids.append(env_id)
    return ids


def register_all() -> None:
    """Register the ids of every known embodiment: shipped, and on ``$COSMOS3_GYM_EMBODIMENT_PATH``
    (a user's YAML that cannot be read is skipped with a warning: ``import cosmos3_gym`` must not fail)."""
    shipped, seen = set(shipped_embodiments()), {}
    for name, path in embodiment_files().items():
        try:
            robot = yaml_field(path, "gym_name")
        except (OSError, yaml.YAMLError) as exc:
            if name in shipped:
                raise
            warnings.warn(f"{path}: cannot read this embodiment YAML ({exc}); skipped", stacklevel=2)
            continue
        if not (isinstance(robot, str) and robot[:1].isupper() and robot.isalnum()) or robot in seen:
            why = f"is taken by {seen[robot]}" if robot in seen else "must be alphanumeric, starting with a capital"
            warnings.warn(f"{path}: field 'gym_name' = {robot!r} {why}; its ids are not registered", stacklevel=2)
            continue
        seen[robot] = name
        register_ids(name, robot)


def register_embodiment(path: str | Path) -> Embodiment:
    """Register a robot YAML from any folder (+ the MJCF it names, relative to the YAML).

    Validates both (``EmbodimentConfigError`` names file, field, value and what is allowed), makes its
    ``name`` known to ``list_embodiments``/``load_embodiment`` and to every CLI option of this process,
    and registers ``Cosmos3-<gym_name>[-<Task>]-v0`` and ``…-MuJoCo-v0`` for every task. The MuJoCo twin
    ids work at once; a learned id needs a checkpoint trained on this robot (``gym.make(id, model=CKPT)``;
    the shipped model covers only the shipped robots). Registering the same file again is a no-op.
    """
    from cosmos3_gym.tokens import load_embodiment

    path = Path(path).expanduser().resolve()
    emb = load_embodiment(path)
    emb.layout  # compiles the MJCF and checks the sites, joints and actuators the YAML names  # noqa: B018
    robot = emb.spec.gym_name
    owner = next((n for n, g in gym_names().items() if g == robot and n != emb.name), None)
    if owner is not None:
        raise ValueError(f"{path}: gym_name {robot!r} is taken by embodiment {owner!r}; choose another")
    add_embodiment_file(emb.name, path)
    register_ids(str(path), robot)
    return emb


def embodiment_arg(value: str) -> str:
    """argparse ``type=`` of every ``--embodiment`` option: a known name (case-insensitive where
    unambiguous) or a path to a robot YAML, which is registered; returns the embodiment's name."""
    try:
        return register_embodiment(value).name if is_yaml_path(value) else resolve_name(value)
    except (OSError, ValueError) as exc:  # EmbodimentConfigError is a ValueError
        raise argparse.ArgumentTypeError(str(exc)) from None


EMBODIMENT_HELP = "a known embodiment name (cosmos3-gym embodiments) or a path to a robot YAML"
REGISTER_HELP = "register this robot YAML (repeatable) so that --env can name its ids, e.g. Cosmos3-<gym_name>-Lift-v0"


def add_embodiment_option(p: argparse.ArgumentParser, help: str = REGISTER_HELP) -> None:
    """A repeatable ``--embodiment YAML`` that registers robot YAMLs before the command runs: for the
    commands that take an env id (validate, rl, bench), so that ``--env`` can name its ids, and for train,
    whose datasets name their robots (robots on the search path need no option)."""
    p.add_argument("--embodiment", action="append", default=[], type=embodiment_arg, metavar="YAML", help=help)
