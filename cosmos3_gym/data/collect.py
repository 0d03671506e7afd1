"""Roll out a MuJoCo twin with a data-collection policy and write a LeRobot v3.0 dataset.

Episode ``i`` uses ``env.reset(seed=seed + i)`` and a policy seeded ``seed + i``, so every episode is
reproducible on its own. Each finished episode is committed atomically (:mod:`.writer`); an interrupted
run keeps exactly the episodes finished before the interruption.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

import cosmos3_gym
from cosmos3_gym.data.fanout import ordered_map, require_ray, wants_ray
from cosmos3_gym.data.format import (
    ACTION,
    CHUNKS_SIZE,
    CODEBASE_VERSION,
    DATA_FILE_MB,
    DATA_PATH,
    DONE,
    GOAL,
    INFO_PATH,
    NEXT_STATE,
    RAW,
    REWARD,
    STATE,
    SUCCESS,
    TASK_INSTRUCTIONS,
    TERMINATED,
    DatasetError,
    frame_features,
)
from cosmos3_gym.data.writer import DatasetWriter
from cosmos3_gym.embodiment.catalog import embodiment_files, list_embodiments, resolve_name
from cosmos3_gym.sim.policies import Policy, PolicyFactory, check_policy, policy_factory
from cosmos3_gym.tasks import get_task
from cosmos3_gym.tokens import Embodiment, load_embodiment

#: info.json ``cosmos3`` fields that must match to append to an existing dataset.
APPEND_MUST_MATCH = (
    "embodiment",
    "task",
    "policy",
    "agent_sha256",
    "policy_options",
    "env_id",
    "yaml_hash",
    "max_episode_steps",
    "reward_type",
)


def twin_env_id(emb: Embodiment, task: str) -> str:
    """Registered MuJoCo-twin id, e.g. ``Cosmos3-Franka-Lift-MuJoCo-v0``."""
    return f"Cosmos3-{emb.spec.gym_name}-{task.capitalize()}-MuJoCo-v0"


def rollout(env: gym.Env, policy: Policy, seed: int) -> dict[str, np.ndarray]:
    """One episode -> frame columns, each ``(T, ...)``: ``s_t``, goal, ``a_t`` (as executed, clipped to the
    box), the raw Cosmos3 action of the step, ``s_{t+1}``, reward, done/terminated/success after the step."""
    obs, _ = env.reset(seed=seed)
    policy.reset(obs)
    rows: dict[str, list] = {k: [] for k in (STATE, GOAL, ACTION, RAW, NEXT_STATE, REWARD, DONE, TERMINATED, SUCCESS)}
    while True:
        action = np.clip(np.asarray(policy(obs), dtype=np.float32), -1.0, 1.0)
        nxt, reward, terminated, truncated, info = env.step(action)
        for key, value in (
            (STATE, obs["observation"]),
            (GOAL, obs["desired_goal"]),
            (ACTION, action),
            (RAW, info["cosmos3_action"]),
            (NEXT_STATE, nxt["observation"]),
            (REWARD, reward),
            (DONE, terminated or truncated),
            (TERMINATED, terminated),
            (SUCCESS, info["is_success"]),
        ):
            rows[key].append(value)
        obs = nxt
        if terminated or truncated:
            break
    dtypes = {
        STATE: np.float32,
        GOAL: np.float32,
        ACTION: np.float32,
        RAW: np.float64,
        NEXT_STATE: np.float32,
        REWARD: np.float32,
        DONE: bool,
        TERMINATED: bool,
        SUCCESS: bool,
    }
    return {k: np.asarray(v, dtype=dtypes[k]) for k, v in rows.items()}


def _info(
    emb: Embodiment, task: str, policy: str, env: gym.Env, agent: Path | None, options: dict[str, Any]
) -> dict[str, Any]:
    """``meta/info.json`` without totals: LeRobot v3.0 keys plus the ``cosmos3`` block."""
    twin = env.unwrapped
    layout = {part: [sl.start, sl.stop] for part, sl in twin.layout.parts.items()}
    return {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": emb.name,
        "total_tasks": 1,
        "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": DATA_FILE_MB,
        "video_files_size_in_mb": 0,
        "fps": emb.fps,
        "data_path": DATA_PATH,
        "video_path": None,
        "features": frame_features(emb, {k: tuple(v) for k, v in layout.items()}),
        "cosmos3": {
            "embodiment": emb.name,
            "domain_name": emb.domain_name,
            "domain_id": emb.domain_id,
            "raw_action_dim": emb.raw_action_dim,
            "native_action_dim": emb.native_action_dim,
            "chunk_size": emb.chunk_size,
            "yaml_hash": emb.yaml_hash,
            "task": task,
            "task_instruction": TASK_INSTRUCTIONS[task],
            "policy": policy,
            # The agent of policy 'agent', by content: a retrained agent at the same path is another policy.
            "agent": None if agent is None else agent.name,
            "agent_sha256": None if agent is None else hashlib.sha256(agent.read_bytes()).hexdigest(),
            # The other options of the policy kind (e.g. the checkpoint of 'policy-head'); None: none given.
            "policy_options": {k: _jsonable(v) for k, v in options.items()} or None,
            "env_id": env.spec.id,
            "max_episode_steps": env.spec.max_episode_steps,
            "reward_type": twin.reward_type,
            "observation_layout": layout,
            "num_arms": twin.layout.num_arms,
            "final_observation": NEXT_STATE,
            "seeds": [],
            "package_version": cosmos3_gym.__version__,
        },
    }


def _jsonable(value: object) -> object:
    return value if isinstance(value, bool | int | float | str) else str(value)


def _check_args(
    embodiment: str,
    task: str,
    episodes: int,
    policy: str,
    max_steps: int | None,
    append: bool,
    overwrite: bool,
    options: dict[str, Any],
) -> None:
    resolve_name(embodiment)  # raises naming the known embodiments
    get_task(task)  # raises with the allowed names
    check_policy(policy, "collect", **options)  # raises naming the allowed kinds and options
    if isinstance(episodes, bool) or not isinstance(episodes, int | np.integer) or episodes < 1:
        raise ValueError(f"episodes must be an integer >= 1, got {episodes!r}")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"max_steps must be None or an integer >= 1, got {max_steps!r}")
    if append and overwrite:
        raise ValueError("append and overwrite exclude each other; pick one")


def _prepare(out: Path, info: dict[str, Any], append: bool, overwrite: bool) -> DatasetWriter:
    """Open ``out`` for writing according to the existing-folder rules (see :func:`collect`)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a directory")
    has_content = out.is_dir() and any(out.iterdir())
    is_dataset = (out / INFO_PATH).is_file()
    if has_content and not (append or overwrite):
        raise FileExistsError(
            f"{out} is not empty; pass --append (append=True) to add episodes to the dataset "
            f"there or --overwrite (overwrite=True) to replace it"
        )
    if has_content and not is_dataset:
        raise FileExistsError(
            f"{out} is not empty and holds no dataset (no {INFO_PATH}); refusing to "
            f"{'append to' if append else 'delete'} it"
        )
    if has_content and overwrite:
        shutil.rmtree(out)
    if has_content and append:
        writer = DatasetWriter.open(out)
        have, want = writer.info["cosmos3"], info["cosmos3"]
        diff = [
            f"{k}: dataset {have.get(k)!r} vs requested {want[k]!r}"
            for k in APPEND_MUST_MATCH
            if have.get(k) != want[k]
        ]
        if diff:
            raise DatasetError(f"cannot append to {out}: " + "; ".join(diff))
        return writer
    out.mkdir(parents=True, exist_ok=True)
    return DatasetWriter.create(out, info)


def collect(
    embodiment: str,
    task: str,
    episodes: int,
    policy: str,
    out_dir: str | Path,
    seed: int | None = None,
    progress: bool = True,
    max_steps: int | None = None,
    append: bool = False,
    overwrite: bool = False,
    agent: str | Path | None = None,
    policy_options: dict[str, Any] | None = None,
    workers: int = 1,
    address: str | None = None,
) -> Path:
    """Collect ``episodes`` MuJoCo-twin episodes with ``policy`` into the LeRobot v3.0 folder ``out_dir``.

    Args:
        embodiment: a known embodiment name (``cosmos3_gym.list_embodiments()``: shipped, on
            ``$COSMOS3_GYM_EMBODIMENT_PATH``, or registered with ``cosmos3_gym.register_embodiment(path)``).
        task: ``reach`` | ``push`` | ``lift``.
        episodes: number of episodes (>= 1).
        policy: a kind of the policy registry that collects
            (:func:`~cosmos3_gym.sim.policies.policy_kinds` ``("collect")``).
        out_dir: dataset folder. A non-empty folder is refused unless ``append`` (add episodes; the
            embodiment, task, policy, env id, YAML hash, step limit and reward type must match) or
            ``overwrite`` (delete the dataset there first; refused if it holds no dataset).
        seed: first episode seed (episode ``i`` uses ``seed + i``); ``None`` = 0, or when appending, one
            past the largest seed already in the dataset. Appending never reuses a seed.
        progress: show a tqdm bar on stderr.
        max_steps: episode step limit (default: the task's ``max_episode_steps``).
        agent: a stable-baselines3 ``.zip`` for policy ``agent`` (its spaces must be this env's).
        policy_options: further options of the policy kind, e.g. ``{"checkpoint": CKPT}`` for ``policy-head``
            (recorded in ``info.json``; appending needs the same).
        workers: run episodes as Ray tasks on this many local CPUs (1 = serial, in this process). The
            dataset is the serial run's: same seeds, written in seed order by this process alone.
        address: join this running Ray cluster instead (``auto``, ``ray://host:10001``, ...; also read
            from ``RAY_ADDRESS``); its workers need this package installed.

    Returns:
        The dataset folder (resolved).
    """
    options = {k: v for k, v in (policy_options or {}).items() if v is not None}
    if agent is not None:
        options["agent"] = agent
    agent = options.get("agent")
    _check_args(embodiment, task, episodes, policy, max_steps, append, overwrite, options)
    parallel = wants_ray(workers, address)  # refuses a bad worker count
    if parallel:
        require_ray()  # before the disk is touched: a missing extra is a one-line error
    name = resolve_name(embodiment)
    yaml = str(embodiment_files()[name])  # a worker that never saw a registered robot registers it from here
    job = EpisodeJob(name, yaml, task.lower(), max_steps, policy, tuple(sorted(options.items())))
    env, new_policy = job.build()
    try:
        emb = load_embodiment(name)
        agent_path = Path(agent).expanduser().resolve() if isinstance(agent, str | Path) else None
        info = _info(emb, job.task, policy, env, agent_path, {k: v for k, v in options.items() if k != "agent"})
        out = Path(out_dir).expanduser().resolve()
        writer = _prepare(out, info, append, overwrite)
        used = set(writer.info["cosmos3"]["seeds"])
        start = (max(used) + 1 if used else 0) if seed is None else int(seed)
        clash = sorted(used & set(range(start, start + episodes)))
        if clash:
            raise ValueError(
                f"seeds {clash[:5]}{'...' if len(clash) > 5 else ''} are already in {out}; "
                f"pass seed >= {max(used) + 1} (or leave it unset)"
            )
        seeds = range(start, start + episodes)
        if parallel:  # episodes run as Ray tasks; this process alone writes, in seed order
            runs = _fan_out(job, seeds, workers, address)
        else:
            runs = (rollout(env, new_policy(s), s) for s in seeds)
        desc = f"collect {emb.name}/{job.task}/{policy}" + (f" ({workers} workers)" if parallel else "")
        bar = tqdm(total=episodes, desc=desc, unit="ep", disable=not progress)
        steps = successes = 0
        with bar:
            for i, (ep_seed, columns) in enumerate(zip(seeds, runs, strict=True)):
                writer.add_episode(columns, ep_seed)
                steps += len(columns[SUCCESS])
                successes += bool(columns[SUCCESS][-1])
                bar.set_postfix(steps=steps, success=f"{successes / (i + 1):.0%}")
                bar.update()
    finally:
        env.close()
    return out


@dataclass(frozen=True)
class EpisodeJob:
    """What one collected episode needs besides its seed; hashable, so a worker builds it once."""

    embodiment: str
    yaml: str
    task: str
    max_steps: int | None
    policy: str
    options: tuple[tuple[str, Any], ...]

    def build(self) -> tuple[gym.Env, PolicyFactory]:
        """The twin env and the policy factory (loaded and checked: a missing expert module, an agent for
        other spaces or a checkpoint of other robots fails here)."""
        if self.embodiment not in list_embodiments():  # a robot registered in another process (the driver)
            cosmos3_gym.register_embodiment(self.yaml)
        env_id = twin_env_id(load_embodiment(self.embodiment), self.task)
        env = gym.make(env_id, max_episode_steps=self.max_steps) if self.max_steps else gym.make(env_id)
        try:
            return env, policy_factory(self.policy, env.unwrapped, **dict(self.options))
        except BaseException:
            env.close()
            raise


_BUILT: dict[EpisodeJob, tuple[gym.Env, PolicyFactory]] = {}


#: Most episodes per Ray task: a task costs Ray some milliseconds of CPU on this machine's two cores, an
#: episode ~0.15 s, so a few per task keep that overhead small while a dead worker reruns little.
EPISODES_PER_TASK = 8


def run_episodes(job_seeds: tuple[EpisodeJob, Sequence[int]]) -> list[dict[str, np.ndarray]]:
    """Episodes in a worker process (a Ray task): the env and policy of ``job`` are built on the worker's
    first task and reused, exactly as the serial loop reuses them."""
    job, seeds = job_seeds
    if job not in _BUILT:
        _BUILT[job] = job.build()
    env, factory = _BUILT[job]
    return [rollout(env, factory(seed), seed) for seed in seeds]


def _fan_out(job: EpisodeJob, seeds: range, workers: int, address: str | None) -> Iterator[dict[str, np.ndarray]]:
    """The episodes of ``seeds`` as Ray tasks of up to :data:`EPISODES_PER_TASK` (fewer for short runs, so
    that every worker gets some), yielded one by one in seed order."""
    per_task = max(1, min(EPISODES_PER_TASK, len(seeds) // (4 * workers)))
    chunks = ((job, seeds[i : i + per_task]) for i in range(0, len(seeds), per_task))
    for columns in ordered_map(run_episodes, chunks, workers, address):
        yield from columns
