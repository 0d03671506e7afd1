"""Policies for validation, named by a spec string, resolved and checked before any rollout.

Specs: ``expert``, ``noisy-expert[:SIGMA]`` (default σ = 0.3), ``random-smooth``, ``sine-sweep`` and
``abrupt-reversal`` (unusual action sequences, held out from the training mixture), or the path of a
stable-baselines3 ``.zip`` whose observation and action spaces must equal the env's. Every spec
resolves to a factory ``seed -> Policy`` so each episode gets a fresh policy, identically seeded on
both sides of a comparison.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from cosmos3_gym.sim.policies import NoisyExpert, Policy, RandomSmooth
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.validation.rollouts import PolicyFactory

KINDS = ("expert", "noisy-expert[:SIGMA]", "random-smooth", "sine-sweep", "abrupt-reversal", "PATH.zip (SB3)")
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


class SB3Policy:
    """A loaded stable-baselines3 model acting deterministically on one observation dict."""

    def __init__(self, model: object) -> None:
        self.model = model

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        return None

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        action, _ = self.model.predict(obs, deterministic=True)
        return np.asarray(action, dtype=np.float32)


def _sb3_algorithm(path: Path) -> type:
    """The SB3 class to load a zip with, read from the policy class recorded in its ``data`` file."""
    import stable_baselines3 as sb3

    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"policy {str(path)!r}: not a stable-baselines3 model zip ({exc})") from exc
    module = str(data.get("policy_class", {}).get("__module__", ""))
    for algo in ("sac", "td3", "dqn"):
        if f"stable_baselines3.{algo}." in module:
            return getattr(sb3, algo.upper())
    if module.startswith("stable_baselines3.common"):
        return sb3.PPO  # actor-critic policies (PPO, A2C): predict() is the same for both
    raise ValueError(
        f"policy {str(path)!r}: unsupported policy class module {module!r} (stable-baselines3 PPO, A2C, "
        "SAC, TD3 and DDPG models are supported)"
    )


def _space_summary(space: object) -> str:
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        return "Dict(" + ", ".join(f"{k}: {v.shape}" for k, v in space.spaces.items()) + ")"
    return f"{type(space).__name__}{getattr(space, 'shape', '')}"


def load_sb3_policy(path: str | Path, env: MujocoTwinEnv) -> object:
    """Load an SB3 zip and check its spaces against ``env``'s; raise ``ValueError`` naming both if they differ."""
    from gymnasium import spaces

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"policy {str(path)!r}: no such file; give one of: {', '.join(KINDS)}")
    model = _sb3_algorithm(path).load(str(path), device="cpu")
    obs_ok = (
        isinstance(model.observation_space, spaces.Dict)
        and set(model.observation_space.spaces) == set(env.observation_space.spaces)
        and all(
            model.observation_space[k].shape == env.observation_space[k].shape for k in env.observation_space.spaces
        )
    )
    act_ok = (
        isinstance(model.action_space, spaces.Box)
        and model.action_space.shape == env.action_space.shape
        and np.allclose(model.action_space.low, env.action_space.low)
        and np.allclose(model.action_space.high, env.action_space.high)
    )
    if not (obs_ok and act_ok):
        raise ValueError(
            f"policy {str(path)!r}: the model's spaces do not fit {env.emb.name}/{env.task.name}: "
            f"observation {_space_summary(model.observation_space)} vs env "
            f"{_space_summary(env.observation_space)}, action {_space_summary(model.action_space)} "
            f"vs env {_space_summary(env.action_space)}"
        )
    return model


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
