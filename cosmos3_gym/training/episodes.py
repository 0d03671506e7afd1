"""Training episodes: recorded states and raw Cosmos3 actions, from datasets or straight from the twin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Episode:
    """One recorded episode: states ``(T+1, S)``, raw Cosmos3 actions ``(T, D)``, goal ``(3,)``."""

    embodiment: str
    task: str
    states: np.ndarray
    raw_actions: np.ndarray
    goal: np.ndarray
    expert: bool


def episodes_from_datasets(paths: Sequence[str]) -> list[Episode]:
    """Load collected datasets (``cosmos3-gym collect`` output folders) as training episodes.

    Episodes collected by the scripted ``expert`` are marked as worth imitating (policy mode)."""
    from cosmos3_gym.data.dataset import load_dataset

    out = []
    for path in paths:
        ds = load_dataset(path)
        for e in range(ds.num_episodes):
            ep = ds.episode(e)
            src = ep["source"]
            out.append(
                Episode(
                    src.embodiment,
                    src.task,
                    ep["states"].astype(np.float64),
                    ep["raw_actions"].astype(np.float64),
                    ep["goal"].astype(np.float64),
                    src.policy == "expert",
                )
            )
    return out


def episodes_from_twin(
    embodiment: str, task: str, episodes: int, steps: int, policy: str = "random-smooth", seed: int = 0
) -> list[Episode]:
    """Roll out the MuJoCo twin in memory (episode ``i`` seeded ``seed + i``, ``steps`` steps each, no
    early stop) with a :func:`~cosmos3_gym.sim.policies.make_policy` kind: small training sets for tests
    and quick checks, without writing a dataset."""
    from cosmos3_gym.sim.policies import make_policy
    from cosmos3_gym.sim.twin_env import MujocoTwinEnv

    env = MujocoTwinEnv(embodiment, task)
    out = []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            pol = make_policy(policy, env, seed + i)
            pol.reset(obs)
            states, raws = [obs["observation"]], []
            for _ in range(steps):
                obs, _, _, _, info = env.step(pol(obs))
                states.append(obs["observation"])
                raws.append(info["cosmos3_action"])
            goal = obs["desired_goal"]
            out.append(Episode(embodiment, task, np.array(states), np.array(raws), goal, policy == "expert"))
    finally:
        env.close()
    return out


def split_episodes(episodes: Sequence[Episode], fraction: float, seed: int) -> tuple[list[Episode], list[Episode]]:
    """Hold out ``fraction`` of the episodes of every (embodiment, task) group for validation."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for key in sorted({(e.embodiment, e.task) for e in episodes}):
        group = [e for e in episodes if (e.embodiment, e.task) == key]
        order = rng.permutation(len(group))
        n_val = max(1, round(fraction * len(group))) if len(group) > 1 else 0
        val += [group[i] for i in order[:n_val]]
        train += [group[i] for i in order[n_val:]]
    return train, val
