"""Validation's own policy kinds and the ranking set; every policy is built through the one registry
(:mod:`cosmos3_gym.sim.policies`), which names the builders here by entry-point strings.

``sine-sweep`` and ``abrupt-reversal`` (the held-out scenarios) and the held-out action families
``reversals``, ``biased-expert``, ``slow-sine`` (:mod:`cosmos3_gym.validation.families`): unusual action
sequences registered for ``validate`` only, so no training mixture contains them and they measure fidelity
out of distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from cosmos3_gym.sim.policies import PolicyFactory, policy_kinds
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.validation.families import FAMILIES, make_family

#: Policies of decreasing quality for the ranking check (does the model order them like physics?).
RANKING_POLICIES = ("expert", "noisy-expert:0.3", "noisy-expert:0.6", "noisy-expert:1.0", "random-smooth")


class SineSweep:
    """Per-dimension chirp: ``a_d(t) = A_d sin(φ_d + 2π ∫ f(t) dt)``, ``f`` rising linearly from 0.2 Hz to
    2 Hz over ``sweep_steps`` (then repeating), random amplitude ``A_d ∈ [0.5, 1]`` and phase ``φ_d``."""

    def __init__(self, dim: int, seed: int, fps: float, sweep_steps: int = 64) -> None:
        rng = np.random.default_rng(seed)
        self.amp, self.phase = rng.uniform(0.5, 1.0, dim), rng.uniform(0, 2 * np.pi, dim)
        self.fps, self.sweep, self.t = fps, sweep_steps, 0

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.t = 0

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        tau = (self.t % self.sweep) / self.fps  # s into the sweep
        dur = self.sweep / self.fps
        cycles = 0.2 * tau + (2.0 - 0.2) * tau**2 / (2 * dur)  # ∫ f(t) dt for a linear chirp
        self.t += 1
        return (self.amp * np.sin(self.phase + 2 * np.pi * cycles)).astype(np.float32)


class AbruptReversal:
    """A constant random direction (|a| ≤ 0.9) whose sign flips every 3–10 steps: instantaneous reversals."""

    def __init__(self, dim: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.dim = dim
        self.reset({})

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.dir = self.rng.uniform(-0.9, 0.9, self.dim)
        self.left = int(self.rng.integers(3, 11))

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        if self.left == 0:
            self.dir, self.left = -self.dir, int(self.rng.integers(3, 11))
        self.left -= 1
        return self.dir.astype(np.float32)


def sine_sweep_policy(env: MujocoTwinEnv) -> PolicyFactory:
    """Builder of kind ``sine-sweep``."""
    return lambda seed: SineSweep(int(env.action_space.shape[0]), seed, env.emb.fps)


def abrupt_reversal_policy(env: MujocoTwinEnv) -> PolicyFactory:
    """Builder of kind ``abrupt-reversal``."""
    return lambda seed: AbruptReversal(int(env.action_space.shape[0]), seed)


def _family(kind: str) -> Callable[[MujocoTwinEnv], PolicyFactory]:
    def build(env: MujocoTwinEnv) -> PolicyFactory:
        make_family(kind, env, 0)  # fails now (e.g. no expert for the task) rather than mid-rollout
        return lambda seed: make_family(kind, env, seed)

    build.__doc__ = f"Builder of the held-out family ``{kind}``."
    return build


reversals_policy, biased_expert_policy, slow_sine_policy = (_family(k) for k in FAMILIES)


def policy_label(spec: str) -> str:
    """Short name of a policy spec for tables (a path by its file name: ``agent:a.zip``, ``a.zip``)."""
    kind, sep, value = spec.partition(":")
    if sep and kind in policy_kinds():
        return f"{kind}:{Path(value).name}"
    return Path(spec).name if spec.endswith(".zip") else spec
