"""The agents' observation features: fixed standardization of the goal-conditioned ``Dict`` observation.

Raw observations mix metres, radians and rad/s (joint velocities dominate the scale), and a 2 cm goal
tolerance is a tiny difference between two ~0.5 m inputs; unnormalized, neither PPO nor SAC learned
Franka Reach in 20-60k steps. The extractor standardizes with the world model's dataset statistics
(fixed numbers stored in the policy's kwargs, so a saved agent needs no side file and runs unchanged on
the learned id and on the twin) and appends the goal error ``desired − achieved`` in units of 5 cm.
The same features are used whether the agent trains in the model or in MuJoCo.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

#: Scale of the goal-error feature (m): errors of a few tolerances map to O(1).
GOAL_ERROR_SCALE = 0.05


class GoalFeatures(BaseFeaturesExtractor):
    """``[(obs − μ)/σ, (achieved − μ_g)/σ_g, (desired − μ_g)/σ_g, (desired − achieved)/5 cm]``, clipped to ±10."""

    def __init__(
        self,
        observation_space: spaces.Dict,
        obs_mean: list[float],
        obs_std: list[float],
        goal_mean: list[float],
        goal_std: list[float],
    ) -> None:
        n_obs, n_goal = observation_space["observation"].shape[0], observation_space["desired_goal"].shape[0]
        if len(obs_mean) != n_obs or len(goal_mean) != n_goal:
            raise ValueError(
                f"normalization stats have {len(obs_mean)} observation / {len(goal_mean)} goal channels; "
                f"the space has {n_obs} / {n_goal}"
            )
        super().__init__(observation_space, features_dim=n_obs + 3 * n_goal)
        for name, value in (("om", obs_mean), ("os", obs_std), ("gm", goal_mean), ("gs", goal_std)):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32))

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        o = (obs["observation"] - self.om) / self.os
        a = (obs["achieved_goal"] - self.gm) / self.gs
        d = (obs["desired_goal"] - self.gm) / self.gs
        err = (obs["desired_goal"] - obs["achieved_goal"]) / GOAL_ERROR_SCALE
        return torch.cat([o, a, d, err], dim=-1).clamp(-10.0, 10.0)


def goal_features_kwargs(embodiment: str, task: str, model: str) -> dict[str, Any]:
    """``policy_kwargs`` entries that install :class:`GoalFeatures` with the statistics of ``model``'s
    training data for ``embodiment`` (goal statistics: the task's achieved-goal channels)."""
    from cosmos3_gym.model import get_checkpoint
    from cosmos3_gym.tasks import get_task
    from cosmos3_gym.tokens import load_embodiment

    emb = load_embodiment(embodiment)
    stats = get_checkpoint(model, "cpu").stats[embodiment]
    mean, std, _ = stats.arrays()
    part = emb.layout.parts[get_task(task).goal_part]
    goal = slice(part.start, part.start + 3)  # the first arm's TCP, or the cube
    return {
        "features_extractor_class": GoalFeatures,
        "features_extractor_kwargs": {
            "obs_mean": mean.tolist(),
            "obs_std": std.tolist(),
            "goal_mean": mean[goal].tolist(),
            "goal_std": np.maximum(std[goal], 0.01).tolist(),
        },
    }
