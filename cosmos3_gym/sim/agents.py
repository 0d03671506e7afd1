"""Trained stable-baselines3 agents as policies: the builder of the registry's ``agent`` kind.

An agent zip is loaded with the SB3 class its ``data`` file names and checked against the env's spaces
before any rollout, so an agent of another robot fails at once, naming both spaces (tasks of one robot
share their spaces: a Reach agent runs in Lift).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from cosmos3_gym.sim.policies import AGENT_NOISE, NoisyExpert, PolicyFactory, non_negative
from cosmos3_gym.sim.twin_env import MujocoTwinEnv


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
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"policy {str(path)!r}: no such file (expected a stable-baselines3 .zip)")
    model = _sb3_algorithm(path).load(str(path), device="cpu")
    check_sb3_spaces(model, env, str(path))
    return model


def check_sb3_spaces(model: object, env: MujocoTwinEnv, label: str) -> None:
    """Raise ``ValueError`` naming both sides unless the SB3 ``model``'s spaces equal ``env``'s."""
    from gymnasium import spaces

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
            f"policy {label!r}: the model's spaces do not fit {env.emb.name}/{env.task.name}: "
            f"observation {_space_summary(model.observation_space)} vs env "
            f"{_space_summary(env.observation_space)}, action {_space_summary(model.action_space)} "
            f"vs env {_space_summary(env.action_space)}"
        )


def agent_policy(env: MujocoTwinEnv, agent: str | Path | object, noise: float = AGENT_NOISE) -> PolicyFactory:
    """Builder of kind ``agent``: ``agent`` (a zip path, loaded once, or a loaded SB3 model) acting
    deterministically, plus AR(1) noise of std ``noise`` (0: the bare agent)."""
    noise = non_negative("agent", "noise", noise)
    if isinstance(agent, str | Path):
        model = load_sb3_policy(agent, env)
    else:
        check_sb3_spaces(agent, env, type(agent).__name__)
        model = agent
    if noise == 0.0:
        return lambda seed: SB3Policy(model)
    dim = int(env.action_space.shape[0])
    return lambda seed: NoisyExpert(SB3Policy(model), dim, seed, sigma=noise)
