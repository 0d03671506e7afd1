"""What one RL run is: the env it trains in, the algorithm with its default hyperparameters, the guards.

:class:`RLConfig` is validated once (:meth:`RLConfig.check`) so that every later stage can trust it;
:func:`algo_kwargs` turns it into the stable-baselines3 constructor arguments, identical whether the
agent trains inside the world model or in the MuJoCo twin (the transfer benchmark relies on that).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cosmos3_gym  # noqa: F401  (registers the ids)
from cosmos3_gym.envs.ids import EnvTarget, resolve_env
from cosmos3_gym.rl.features import goal_features_kwargs

ALGOS = ("ppo", "sac", "sac-her")


@dataclass(frozen=True)
class RLConfig:
    """One training run. Env steps (``steps``, ``eval_every``, ``reanchor_every``, ...) count transitions
    summed over the ``num_envs`` parallel environments, as SB3's ``num_timesteps`` does.

    Guards (learned env only, see :mod:`cosmos3_gym.rl`): ``uncertainty_penalty`` (reward −= L · m),
    ``max_uncertainty`` (m, truncate), ``ood_sigma`` (truncate), ``imagination_horizon`` (model episodes
    of H steps from twin start states), ``reanchor_every`` (re-sync to twin states of the current policy).
    """

    env_id: str = "Cosmos3-Franka-Reach-v0"
    algo: str = "ppo"
    steps: int = 50_000
    num_envs: int = 8
    out: str = "rl_out"
    model: str = "default"
    seed: int = 0
    eval_every: int = 10_000
    eval_episodes: int = 20
    eval_seed: int = 10_000
    checkpoint_every: int = 0  # 0: same as eval_every
    device: str = "cpu"
    uncertainty_penalty: float = 0.0
    uncertainty_samples: int = 0  # raised to 2 when a penalty or max_uncertainty needs the estimate
    max_uncertainty: float | None = None
    ood_sigma: float | None = None
    imagination_horizon: int | None = None
    reanchor_every: int | None = None
    progress: bool = True

    def check(self) -> RLConfig:
        """Validate every field (errors name the field, the value and what is allowed); return self."""
        target = resolve_env(self.env_id)
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        for name in ("steps", "num_envs", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("eval_every", "checkpoint_every", "uncertainty_samples"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.uncertainty_penalty < 0:
            raise ValueError(f"uncertainty_penalty must be >= 0, got {self.uncertainty_penalty}")
        for name in ("max_uncertainty", "ood_sigma"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 (or unset), got {value}")
        for name in ("imagination_horizon", "reanchor_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 (or unset), got {value}")
        if not target.learned and self.guards_used():
            raise ValueError(
                f"{self.env_id} is a MuJoCo twin: model-exploitation guards "
                f"({', '.join(self.guards_used())}) only apply to learned ids"
            )
        return self

    def guards_used(self) -> list[str]:
        """Names of the guard options that are switched on."""
        return [
            n
            for n in ("uncertainty_penalty", "max_uncertainty", "ood_sigma", "imagination_horizon", "reanchor_every")
            if getattr(self, n)
        ]

    @property
    def samples(self) -> int:
        """Uncertainty samples the learned env needs: at least 2 when a penalty or a cap reads them."""
        need = self.uncertainty_penalty > 0 or self.max_uncertainty is not None
        return max(self.uncertainty_samples, 2) if need else self.uncertainty_samples

    @property
    def target(self) -> EnvTarget:
        return resolve_env(self.env_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def episode_steps(cfg: RLConfig) -> int:
    """Longest episode the agent sees during training (task limit, or the imagination horizon)."""
    from cosmos3_gym.tasks import get_task

    limit = get_task(cfg.target.task).max_episode_steps
    return min(limit, cfg.imagination_horizon) if cfg.imagination_horizon else limit


def algo_kwargs(cfg: RLConfig) -> dict[str, Any]:
    """SB3 constructor arguments for ``cfg.algo`` (the defaults we use for these dense-reward tasks).

    Both families see :class:`~cosmos3_gym.rl.features.GoalFeatures` (standardized observation + goal
    error) and use ``gamma=0.95`` (Fetch/HER practice: episodes of 50-100 steps, reward −distance)
    and two 256-unit layers. PPO collects ~2048 transitions per update; SAC does one gradient step per
    transition (replay ratio 1, ``num_envs`` steps per vector step) — the update, not the env, bounds
    its speed on a CPU. (One step per vector step learned nothing on Franka Reach in 20k transitions.)
    """
    common: dict[str, Any] = {"gamma": 0.95, "seed": cfg.seed, "device": cfg.device, "verbose": 0}
    features = goal_features_kwargs(cfg.target.embodiment, cfg.target.task, cfg.model)
    if cfg.algo == "ppo":
        # ~2048 transitions per update, fewer when the whole budget is smaller (at least one update).
        n_steps = max(min(2048, cfg.steps) // cfg.num_envs, 8)
        rollout = n_steps * cfg.num_envs  # minibatches tile the rollout exactly (no ragged last one)
        batch = max(d for d in range(1, min(256, rollout) + 1) if rollout % d == 0)
        return {
            **common,
            "n_steps": n_steps,
            "batch_size": batch,
            "n_epochs": 10,
            "learning_rate": 3e-4,
            "gae_lambda": 0.95,
            "clip_range": 0.2,
            "ent_coef": 0.0,
            "policy_kwargs": {"net_arch": {"pi": [256, 256], "vf": [256, 256]}, **features},
        }
    # Off-policy: learning starts after a warm-up of random actions; HER also needs one finished
    # episode per env before it can sample (SB3 refuses otherwise).
    starts = min(1000, cfg.steps // 4)
    if cfg.algo == "sac-her":
        starts = max(starts, (episode_steps(cfg) + 1) * cfg.num_envs)
    kw: dict[str, Any] = {
        **common,
        "learning_rate": 1e-3,
        "buffer_size": int(min(1_000_000, max(cfg.steps, 10_000))),
        "batch_size": 256,
        "tau": 0.05,
        "learning_starts": starts,
        "train_freq": 1,
        "gradient_steps": -1,  # one gradient step per transition (replay ratio 1), as in single-env SAC
        "ent_coef": "auto",
        "policy_kwargs": {"net_arch": [256, 256], **features},
    }
    if cfg.algo == "sac-her":
        from stable_baselines3 import HerReplayBuffer

        # copy_info_dict: relabelled rewards subtract the stored model uncertainty too (the penalty).
        kw["replay_buffer_class"] = HerReplayBuffer
        kw["replay_buffer_kwargs"] = {
            "n_sampled_goal": 4,
            "goal_selection_strategy": "future",
            "copy_info_dict": cfg.uncertainty_penalty > 0,
        }
    return kw
