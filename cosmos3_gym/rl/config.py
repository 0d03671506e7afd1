"""What one RL run is: the env it trains in, the algorithm with its default hyperparameters, the guards.

:class:`RLConfig` is validated once (:meth:`RLConfig.check`) so that every later stage can trust it;
:func:`algo_kwargs` turns it into the stable-baselines3 constructor arguments, identical whether the
agent trains inside the world model or in the MuJoCo twin (the transfer benchmark relies on that).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import cosmos3_gym  # noqa: F401  (registers the ids)
from cosmos3_gym.envs.ids import EnvTarget, resolve_env
from cosmos3_gym.model.device import check_device
from cosmos3_gym.rl.features import goal_features_kwargs

ALGOS = ("ppo", "sac", "sac-her")
#: Option group of the guards in ``cosmos3-gym rl --help``.
GUARDS = "model-exploitation guards (learned ids only; see cosmos3_gym/rl/README.md)"


@dataclass(frozen=True)
class RLConfig:
    """One training run. Env steps (``steps``, ``eval_every``, ``reanchor_every``, ...) count transitions
    summed over the ``num_envs`` parallel environments, as SB3's ``num_timesteps`` does.

    Guards (learned env only, see :mod:`cosmos3_gym.rl`): ``uncertainty_penalty`` (reward −= L · m),
    ``max_uncertainty`` (m, truncate), ``ood_sigma`` (truncate), ``imagination_horizon`` (model episodes
    of H steps from twin start states), ``reanchor_every`` (re-sync to twin states of the current policy).

    Each field is a ``cosmos3-gym rl`` option; its metadata holds the option's help (and the flag where it
    differs from ``--field-name``), read by :mod:`cosmos3_gym.rl.options`.
    """

    env_id: str = field(
        default="Cosmos3-Franka-Reach-v0",
        metadata={
            "flag": "--env",
            "help": "learned id to train in (e.g. Cosmos3-Franka-Reach-v0); a ...-MuJoCo-v0 id trains in the twin",
        },
    )
    algo: str = field(default="ppo", metadata={"help": "stable-baselines3 algorithm", "choices": ALGOS})
    steps: int = field(default=50_000, metadata={"help": "env steps, summed over envs"})
    num_envs: int = field(default=8, metadata={"help": "parallel envs"})
    out: str = field(
        default="rl_out", metadata={"help": "run folder: checkpoints/, eval.csv, final_model.zip", "metavar": "DIR"}
    )
    model: str = field(
        default="default",
        metadata={"help": "world-model checkpoint folder ('default': the shipped one)", "metavar": "CKPT"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the agent and the training envs"})
    time_limit_s: float | None = field(
        default=None,
        metadata={
            "flag": "--time-limit",
            "help": "stop after this much training wall-clock (s, evaluation excluded), before --steps if sooner",
            "metavar": "SECONDS",
        },
    )
    eval_every: int = field(default=10_000, metadata={"help": "env steps between evaluations (0 = end only)"})
    eval_episodes: int = field(default=20, metadata={"help": "episodes per evaluation and env"})
    eval_seed: int = field(default=10_000, metadata={"help": "first evaluation seed (then +1, +2, ...)"})
    checkpoint_every: int = field(default=0, metadata={"help": "env steps between checkpoints (0 = --eval-every)"})
    device: str = field(default="cpu", metadata={"help": "torch device of the agent and the world model"})
    uncertainty_penalty: float = field(
        default=0.0,
        metadata={
            "help": "reward -= L * model_uncertainty (m); turns on 2 uncertainty samples",
            "metavar": "L",
            "group": GUARDS,
        },
    )
    uncertainty_samples: int = field(
        default=0,
        metadata={
            "help": "stochastic samples for the uncertainty estimate (raised to 2 when L or U is set)",
            "metavar": "N",
            "group": GUARDS,
        },
    )
    max_uncertainty: float | None = field(
        default=None,
        metadata={"help": "truncate an episode when model_uncertainty exceeds U (m)", "metavar": "U", "group": GUARDS},
    )
    ood_sigma: float | None = field(
        default=None,
        metadata={
            "help": "truncate when a state channel leaves the training data by more than K std",
            "metavar": "K",
            "group": GUARDS,
        },
    )
    imagination_horizon: int | None = field(
        default=None,
        metadata={
            "help": "model episodes of H steps from fresh twin start states (MBPO-style short rollouts)",
            "metavar": "H",
            "group": GUARDS,
        },
    )
    reanchor_every: int | None = field(
        default=None,
        metadata={
            "help": "every N env steps, move all model envs to states of twin rollouts of the current policy",
            "metavar": "N",
            "group": GUARDS,
        },
    )
    bc_episodes: int = field(
        default=0,
        metadata={
            "help": "warm start: clone the scripted expert from N noisy episodes of the simulator trained in (0 = off)",
            "metavar": "N",
        },
    )
    bc_epochs: int = field(default=60, metadata={"help": "epochs of the behaviour cloning", "metavar": "N"})
    progress: bool = field(default=True, metadata={"help": "progress bar"})

    def check(self) -> RLConfig:
        """Validate every field (errors name the field, the value and what is allowed); return self."""
        target = resolve_env(self.env_id)
        check_device(self.device)  # before the run folder is made: nothing half-written on a machine without it
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        for name in ("steps", "num_envs", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("eval_every", "checkpoint_every", "uncertainty_samples", "bc_episodes", "bc_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.uncertainty_penalty < 0:
            raise ValueError(f"uncertainty_penalty must be >= 0, got {self.uncertainty_penalty}")
        for name in ("max_uncertainty", "ood_sigma", "time_limit_s"):
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


#: From this many envs on, PPO uses the massively parallel recipe (:func:`algo_kwargs`).
PARALLEL_ENVS = 64


def algo_kwargs(cfg: RLConfig) -> dict[str, Any]:
    """SB3 constructor arguments for ``cfg.algo`` (the defaults we use for these dense-reward tasks).

    Both families see :class:`~cosmos3_gym.rl.features.GoalFeatures` (standardized observation + goal
    error). SAC and PPO on fewer than :data:`PARALLEL_ENVS` envs use ``gamma=0.95`` (Fetch/HER practice:
    episodes of 50-100 steps) and two 256-unit layers; PPO collects ~2048 transitions per update; SAC
    does one gradient step per transition (replay ratio 1, ``num_envs`` steps per vector step) — the
    update, not the env, bounds its speed on a CPU. (One step per vector step learned nothing on Franka
    Reach in 20k transitions.)

    PPO on :data:`PARALLEL_ENVS` or more envs follows ManiSkill3's GPU-parallel PPO baselines for
    PushCube / PickCube with their normalized staged dense reward: 50-step rollouts per env, ``gamma=0.8``,
    GAE ``lambda=0.9``, 32 minibatches, 8 epochs, ``target_kl=0.1``, gradient norm 0.5, three 256-unit
    layers and an initial action std of ``exp(-0.5)``.
    """
    common: dict[str, Any] = {"gamma": 0.95, "seed": cfg.seed, "device": cfg.device, "verbose": 0}
    features = goal_features_kwargs(cfg.target.embodiment, cfg.target.task, cfg.model)
    if cfg.algo == "ppo" and cfg.num_envs >= PARALLEL_ENVS:
        n_steps = max(min(50, cfg.steps // cfg.num_envs), 1)
        rollout = n_steps * cfg.num_envs
        batch = max(d for d in range(1, rollout // 32 + 1) if rollout % d == 0) if rollout >= 32 else rollout
        return {
            **common,
            "gamma": 0.8,
            "n_steps": n_steps,
            "batch_size": batch,
            "n_epochs": 8,
            "learning_rate": 3e-4,
            "gae_lambda": 0.9,
            "clip_range": 0.2,
            "ent_coef": 0.0,
            "max_grad_norm": 0.5,
            "target_kl": 0.1,
            "policy_kwargs": {"net_arch": {"pi": [256] * 3, "vf": [256] * 3}, "log_std_init": -0.5, **features},
        }
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

        # copy_info_dict: relabelled rewards subtract the stored model uncertainty too (the penalty), and
        # the staged dense reward of Push and Lift reads the stored TCPs and openings.
        kw["replay_buffer_class"] = HerReplayBuffer
        kw["replay_buffer_kwargs"] = {
            "n_sampled_goal": 4,
            "goal_selection_strategy": "future",
            "copy_info_dict": cfg.uncertainty_penalty > 0 or cfg.target.task != "reach",
        }
    return kw
