"""Policies for validation, named by a spec string, resolved and checked before any rollout.

Specs: ``expert``, ``noisy-expert[:SIGMA]`` (default σ = 0.3), ``random-smooth``, ``sine-sweep`` and
``abrupt-reversal`` (unusual action sequences, held out from the training mixture), the held-out action
families ``reversals``, ``biased-expert``, ``slow-sine`` (:mod:`cosmos3_gym.validation.families`), or the path of a
stable-baselines3 ``.zip`` whose observation and action spaces must equal the env's. Every spec
resolves to a factory ``seed -> Policy`` so each episode gets a fresh policy, identically seeded on
both sides of a comparison.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cosmos3_gym.sim.agents import SB3Policy, load_sb3_policy
from cosmos3_gym.sim.policies import NoisyExpert, Policy, RandomSmooth
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.validation.families import FAMILIES, make_family
from cosmos3_gym.validation.rollouts import PolicyFactory

KINDS = (
    "expert",
    "noisy-expert[:SIGMA]",
    "random-smooth",
    "sine-sweep",
    "abrupt-reversal",
    *FAMILIES,
    "PATH.zip (SB3)",
)
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


def resolve_policy(spec: str, env: MujocoTwinEnv) -> PolicyFactory:
    """Turn a policy spec into a factory ``seed -> Policy``; raises ``ValueError`` for a bad spec."""
    dim = int(env.action_space.shape[0])
    kind, _, arg = spec.partition(":")
    if spec.endswith(".zip") or Path(spec).suffix == ".zip":
        model = load_sb3_policy(spec, env)
        return lambda seed: SB3Policy(model)
    if arg and kind != "noisy-expert":
        raise ValueError(f"policy {spec!r}: only noisy-expert takes an argument (noisy-expert:SIGMA)")
    if kind == "random-smooth":
        return lambda seed: RandomSmooth(dim, seed)
    if kind == "sine-sweep":
        return lambda seed: SineSweep(dim, seed, env.emb.fps)
    if kind == "abrupt-reversal":
        return lambda seed: AbruptReversal(dim, seed)
    if kind in FAMILIES:
        make_family(kind, env, 0)  # fails now (e.g. no expert for the task) rather than mid-rollout
        return lambda seed: make_family(kind, env, seed)
    if kind in ("expert", "noisy-expert"):
        from cosmos3_gym.sim.experts import make_expert

        make_expert(env)  # fails now (unknown task) rather than mid-rollout
        if kind == "expert":
            return lambda seed: make_expert(env)
        try:
            sigma = float(arg) if arg else 0.3
        except ValueError:
            raise ValueError(f"policy {spec!r}: SIGMA must be a number, e.g. noisy-expert:0.6") from None
        if not sigma >= 0:
            raise ValueError(f"policy {spec!r}: SIGMA must be >= 0")
        return lambda seed: NoisyExpert(make_expert(env), dim, seed, sigma=sigma)
    raise ValueError(f"unknown policy {spec!r}; allowed: {', '.join(KINDS)}")


def policy_label(spec: str) -> str:
    """Short name of a policy spec for tables (an SB3 zip by its file name)."""
    return Path(spec).name if spec.endswith(".zip") else spec


__all__ = [
    "KINDS",
    "RANKING_POLICIES",
    "AbruptReversal",
    "Policy",
    "SB3Policy",
    "SineSweep",
    "load_sb3_policy",
    "policy_label",
    "resolve_policy",
]
