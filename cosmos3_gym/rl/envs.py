"""The vectorised training environment of an RL run: the learned simulator or the MuJoCo twin.

Learned: one batched :class:`~cosmos3_gym.envs.sb3.LearnedSB3VecEnv` (all envs in one model pass)
with the run's guards, optionally wrapped by :class:`~cosmos3_gym.rl.reanchor.ReanchorVecEnv`.
Twin: ``num_envs`` MuJoCo twins in SB3's ``DummyVecEnv`` (or ``SubprocVecEnv``, one process per env, or
:class:`~cosmos3_gym.rl.shards.ShardedVecEnv`, one process per core), each with the registered time
limit. Both end in a ``VecMonitor`` so SB3 logs episode returns and lengths.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecMonitor

from cosmos3_gym.rl.config import RLConfig

VEC_KINDS = ("dummy", "subproc", "shards")


def _twin_factory(env_id: str) -> Any:
    def make() -> gym.Env:
        import cosmos3_gym  # noqa: F401  (a SubprocVecEnv worker registers the ids itself)

        return gym.make(env_id)

    return make


def make_twin_vec(env_id: str, num_envs: int, vec: str = "dummy") -> VecEnv:
    """``num_envs`` twins of ``env_id`` (a ``…-MuJoCo-v0`` id) as an SB3 VecEnv: ``dummy`` (this process),
    ``subproc`` (a process per env) or ``shards`` (a process per CPU core, envs split evenly)."""
    if vec not in VEC_KINDS:
        raise ValueError(f"vec must be one of {', '.join(VEC_KINDS)}, got {vec!r}")
    fns = [_twin_factory(env_id) for _ in range(num_envs)]
    if vec == "shards":
        from cosmos3_gym.rl.shards import ShardedVecEnv

        return ShardedVecEnv(fns, os.cpu_count() or 1)
    return DummyVecEnv(fns) if vec == "dummy" else SubprocVecEnv(fns, start_method="spawn")


def make_learned_vec(cfg: RLConfig) -> VecEnv:
    """The batched learned env of ``cfg`` with its guards (time limit = the imagination horizon if set)."""
    from cosmos3_gym.envs.sb3 import LearnedSB3VecEnv

    t = cfg.target
    return LearnedSB3VecEnv(
        cfg.num_envs,
        t.embodiment,
        t.task,
        model=cfg.model,
        device=cfg.device,
        max_episode_steps=cfg.imagination_horizon,
        uncertainty_samples=cfg.samples,
        uncertainty_penalty=cfg.uncertainty_penalty,
        max_uncertainty=cfg.max_uncertainty,
        ood_sigma=cfg.ood_sigma,
    )


def make_train_env(cfg: RLConfig, vec: str = "dummy") -> tuple[VecEnv, Any]:
    """(monitored VecEnv, the ReanchorVecEnv inside it or None). ``vec`` only applies to twin training."""
    if not cfg.target.learned:
        return VecMonitor(make_twin_vec(cfg.env_id, cfg.num_envs, vec)), None
    venv = make_learned_vec(cfg)
    anchor = None
    if cfg.reanchor_every:
        from cosmos3_gym.rl.reanchor import ReanchorVecEnv

        venv = anchor = ReanchorVecEnv(
            venv, cfg.reanchor_every, cfg.seed, fresh_branch=cfg.imagination_horizon is not None
        )
    return VecMonitor(venv), anchor
