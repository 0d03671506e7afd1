"""Warm start from demonstrations: behaviour-clone the scripted expert into a fresh SB3 agent before RL.

The demonstrations are episodes of the task's scripted expert (:mod:`cosmos3_gym.sim.experts`) in the
simulator the agent trains in (the learned one for a learned id, so that such an agent never sees MuJoCo
before its evaluation), driven with correlated action noise, each state labelled with the clean expert
action (DART: the noise shows the states just off the expert's path, the labels say how the expert gets
back). The actor's mean action is fitted to the labels by mean squared error; the critic is left to RL.
PPO's action std is set to ``exp(log_std)`` afterwards, so exploration starts around the cloned behaviour
rather than drowning it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cosmos3_gym.tasks.splits import EPISODE_SEEDS

#: Std of the AR(1) action noise on the demonstrations (native units).
DEMO_NOISE = 0.3
#: Demonstration episode ``e`` of RL seed ``s`` resets with seed ``DEMO_SEED + 10 000 · s + e``; seeds that would
#: land in an evaluation split (:mod:`cosmos3_gym.tasks.splits`) are refused.
DEMO_SEED = 50_000


def demonstrations(
    embodiment: str, task: str, episodes: int, seed: int = 0, model: str | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``episodes`` noisy-expert episodes: (observations ``{key: (N, ...)}``, expert actions ``(N, A)``).

    ``model``: a world-model checkpoint to run them in (the learned simulator: an agent warm-started so and
    trained in it has never seen MuJoCo); None: the MuJoCo twin."""
    first, last = DEMO_SEED + seed * 10_000, DEMO_SEED + seed * 10_000 + episodes - 1
    if episodes < 1 or any(first < pool.stop and last >= pool.start for pool in EPISODE_SEEDS.values()):
        raise ValueError(  # checked before any simulator is built
            f"demonstrations: {episodes} episodes of seed {seed} would reset with seeds {first}..{last}; "
            "at least one episode, and no evaluation-split seed (200000-399999), allowed"
        )
    from cosmos3_gym.sim.demos import dart_episode
    from cosmos3_gym.sim.twin_env import MujocoTwinEnv

    if model is None:
        env = twin = MujocoTwinEnv(embodiment, task)
    else:
        from cosmos3_gym.envs.learned_env import LearnedEnv

        env = LearnedEnv(embodiment, task, model=model)
        twin = env.core.twin  # the expert reads the layout and spec, which the two share
    rng = np.random.default_rng(seed)
    obs_rows: dict[str, list[np.ndarray]] = {}
    labels: list[np.ndarray] = []
    for ep in range(episodes):
        observations, ep_labels = dart_episode(env, twin, first + ep, DEMO_NOISE, rng)
        for obs in observations[:-1]:  # the last one has no label
            for k, v in obs.items():
                obs_rows.setdefault(k, []).append(v)
        labels.extend(ep_labels)
    env.close()
    return {k: np.stack(v) for k, v in obs_rows.items()}, np.stack(labels).astype(np.float32)


def behaviour_clone(
    agent: Any, obs: dict[str, np.ndarray], actions: np.ndarray, epochs: int = 30, log_std: float = -1.5, seed: int = 0
) -> float:
    """Fit ``agent``'s actor mean to ``actions (N, A)`` at ``obs``; returns the final MSE (native units²)."""
    policy = agent.policy
    gen = torch.Generator().manual_seed(seed)
    params = [p for n, p in policy.named_parameters() if not n.startswith(("value_net", "mlp_extractor.value_net"))]
    opt = torch.optim.Adam(params, lr=1e-3)
    x = {k: torch.as_tensor(v, dtype=torch.float32, device=policy.device) for k, v in obs.items()}
    y = torch.as_tensor(actions, device=policy.device)
    n, loss = len(y), torch.zeros(())
    policy.set_training_mode(True)
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=gen).split(256):
            mean = policy.get_distribution({k: v[idx] for k, v in x.items()}).distribution.mean
            loss = ((mean - y[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    policy.set_training_mode(False)
    if hasattr(policy, "log_std"):
        with torch.no_grad():
            policy.log_std.fill_(log_std)
    return float(loss.detach())
