"""World-model configuration and size presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from cosmos3_gym.embodiment.spec import MAX_ACTION_DIM

#: Cosmos3's ``num_embodiment_domains``: one projection table per domain id.
NUM_DOMAINS = 32
#: Width state rows are zero-padded to (largest embodiment state vector must fit).
STATE_DIM = 128
#: Tasks the task token can name (index order is part of the checkpoint).
TASK_NAMES = ("reach", "push", "lift")
#: Modes, in the order of the mode embedding table (Cosmos3 names; "policy" is Cosmos3's "wam").
MODES = ("forward_dynamics", "inverse_dynamics", "policy")


@dataclass(frozen=True)
class WorldModelConfig:
    """Hyper-parameters of :class:`~cosmos3_gym.model.world_model.WorldModel`.

    ``history``: state tokens of context in the reasoner; ``chunk``: transitions per generated chunk.
    ``residual_prior``: forward dynamics predicts the residual from the commanded-pose prior
    (:mod:`cosmos3_gym.model.prior`); ``id_prior``: inverse dynamics predicts the residual from the
    analytic contract inverse (:meth:`~cosmos3_gym.model.prior.CommandPrior.inverse`);
    ``goal_relative``: the task token reads the goal error, not the raw goal (:mod:`cosmos3_gym.model.goal`);
    ``task_blind``: the dynamics modes do not read the task token either, only the policy mode does
    (physics does not depend on the task: a dynamics that reads it learns each task's usual motion, e.g.
    the lift height, as physics); ``object_prior``: the forward prior moves a cube held between an arm's
    fingers rigidly with that arm's commanded pose (:meth:`~cosmos3_gym.model.prior.CommandPrior.from_poses`).
    Each is False only for checkpoints trained before it existed. ``policy_expert``: the policy mode runs
    through weights of its own (:class:`~cosmos3_gym.model.world_model.PolicyExpert`), so training it leaves
    forward and inverse dynamics bit-identical.
    """

    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    ffn_mult: int = 4
    history: int = 2
    chunk: int = 16
    action_dim: int = MAX_ACTION_DIM
    state_dim: int = STATE_DIM
    num_domains: int = NUM_DOMAINS
    num_tasks: int = len(TASK_NAMES)
    residual_prior: bool = False
    id_prior: bool = False
    goal_relative: bool = False
    task_blind: bool = False
    object_prior: bool = False
    policy_expert: bool = False

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        for f in fields(self):
            if f.type != "bool" and getattr(self, f.name) < 1:
                raise ValueError(f"WorldModelConfig.{f.name} must be >= 1, got {getattr(self, f.name)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown WorldModelConfig keys {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**data)


PRESETS: dict[str, WorldModelConfig] = {
    "tiny": WorldModelConfig(d_model=64, n_layers=2, n_heads=4),
    "small": WorldModelConfig(d_model=128, n_layers=4, n_heads=4),
    "base": WorldModelConfig(d_model=256, n_layers=6, n_heads=8),
}


def preset(name: str) -> WorldModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown size preset {name!r}; allowed: {', '.join(PRESETS)}")
    return PRESETS[name]
