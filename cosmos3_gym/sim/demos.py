"""DART demonstrations: the scripted expert driven with correlated action noise, each state labelled with the
clean expert action.

The noise shows the states just off the expert's path and the labels say how the expert gets back (Laskey et
al., "DART", 2017), so a policy cloned from them recovers from its own small errors instead of compounding
them. Used by the RL warm start (an SB3 actor) and by the world model's policy expert (action chunks).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: AR(1) coefficient of the action noise per control step (correlated over ~3 steps, like a drifting hand).
NOISE_RHO = 0.7


def dart_episode(
    env: Any, twin: Any, seed: int, noise: float, rng: np.random.Generator
) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    """One episode of ``twin``'s task expert acting in ``env`` (the twin itself or a learned simulator sharing
    its layout), reset with ``seed``; the executed action is ``clip(label + n_t)`` with AR(1) noise ``n_t`` of
    stationary std ``noise`` (native units) drawn from ``rng``.

    Returns the ``T + 1`` observations (before every step, then the last one) and the clean expert labels
    ``(T, A)`` float32 of the first ``T``; the episode runs to the task's time limit or a termination."""
    from cosmos3_gym.sim.experts import make_expert

    if noise < 0:
        raise ValueError(f"DART noise must be >= 0 (native action units), got {noise}")
    expert = make_expert(twin)
    obs, _ = env.reset(seed=seed)
    expert.reset(obs)
    n = np.zeros(env.action_space.shape)
    observations, labels = [], []
    for _ in range(twin.task.max_episode_steps):
        label = expert(obs)
        observations.append(obs)
        labels.append(label)
        n = NOISE_RHO * n + np.sqrt(1 - NOISE_RHO**2) * rng.normal(0.0, noise, n.shape)
        obs, _, terminated, _, _ = env.step(np.clip(label + n, -1, 1).astype(np.float32))
        if terminated:
            break
    observations.append(obs)
    return observations, np.stack(labels).astype(np.float32)
