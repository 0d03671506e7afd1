"""Native batched ``gymnasium.vector.VectorEnv``: all environments in one world-model forward pass.

Registered as the ``vector_entry_point`` of every learned id, so
``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")`` returns it. Autoreset mode is
NEXT_STEP (Gymnasium's default): the step after an episode ends returns the new episode's first
observation, with zero reward and both flags false. Time-limit truncations are kept apart from
terminations.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from cosmos3_gym.embodiment.spaces import action_space, check_action, observation_space
from cosmos3_gym.envs.learned_core import Guards, LearnedSimCore
from cosmos3_gym.model import Checkpoint


class LearnedVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` learned environments of one embodiment × task, stepped together (CPU or CUDA)."""

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        embodiment: str = "franka",
        task: str = "lift",
        model: str | Checkpoint | None = None,
        device: str = "cpu",
        reward_type: str = "dense",
        flow_steps: int = 1,
        max_episode_steps: int | None = None,
        uncertainty_samples: int = Guards.uncertainty_samples,
        uncertainty_penalty: float = 0.0,
        max_uncertainty: float | None = None,
        ood_sigma: float | None = None,
        render_mode: str | None = None,
        backend: str = "native",
    ) -> None:
        if backend != "native":
            raise ValueError(
                f"the batched vector env steps the world model (backend='native'), got {backend!r}; "
                "use vectorization_mode='sync' for other backends"
            )
        guards = Guards(uncertainty_samples, uncertainty_penalty, max_uncertainty, ood_sigma)
        self.core = LearnedSimCore(embodiment, task, num_envs, model, device, reward_type, flow_steps, guards)
        self.num_envs, self.render_mode = num_envs, render_mode
        self.max_episode_steps = max_episode_steps or self.core.task.max_episode_steps
        self.single_action_space = action_space(self.core.emb.spec)
        self.single_observation_space = observation_space(self.core.layout.size)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.metadata = {**self.metadata, "render_fps": self.core.emb.fps}
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        elif len(seed) != self.num_envs:
            raise ValueError(f"seed list must have num_envs={self.num_envs} entries, got {len(seed)}")
        else:
            seeds = list(seed)
        self.core.reset(np.arange(self.num_envs), seeds)
        self._needs_reset[:] = False
        return self.core.obs(), {}

    def step(self, actions: np.ndarray):
        actions = check_action(actions, self.action_space.shape)
        reward, terminated, success, info = self.core.step(actions)
        truncated = (self.core.elapsed >= self.max_episode_steps) | info["guard_truncated"]
        resetting = np.flatnonzero(self._needs_reset)
        if resetting.size:  # NEXT_STEP autoreset: these envs start a new episode instead
            self.core.reset(resetting, [None] * resetting.size)
            reward[resetting], terminated[resetting], truncated[resetting], success[resetting] = (
                0.0,
                False,
                False,
                False,
            )
        self.core.after_step()
        self._needs_reset = terminated | truncated
        infos = {
            "is_success": success,
            "goal_distance": info["goal_distance"],
            "cosmos3_action": info["cosmos3_action"],
            "effector": info["effector"],
        }
        if "model_uncertainty" in info:
            infos["model_uncertainty"] = info["model_uncertainty"]
        infos = {**infos, **{f"_{k}": np.ones(self.num_envs, dtype=bool) for k in infos}}
        return self.core.obs(), reward.astype(np.float64), terminated, truncated, infos

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode != "rgb_array":
            return None
        return tuple(self.core.twin.render_qpos(self.core.qpos(i)) for i in range(self.num_envs))

    def close_extras(self, **kwargs: Any) -> None:
        self.core.twin.close()
