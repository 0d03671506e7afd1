"""A thin stable-baselines3 ``VecEnv`` over the batched learned simulator.

SB3 resets finished environments within the same step and hands the last observation back in
``infos[i]["terminal_observation"]``, with ``"TimeLimit.truncated"`` marking time-outs (so off-policy
algorithms bootstrap through them). Everything else is the same core as the Gymnasium vector env.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from cosmos3_gym.envs.learned_vector import LearnedVectorEnv


class LearnedSB3VecEnv(VecEnv):
    """``LearnedSB3VecEnv(num_envs, embodiment, task, model=..., ...)``: same keyword arguments as
    :class:`~cosmos3_gym.envs.learned_vector.LearnedVectorEnv`."""

    def __init__(self, num_envs: int, embodiment: str = "franka", task: str = "lift", **kwargs: Any) -> None:
        self.venv = LearnedVectorEnv(num_envs, embodiment, task, **kwargs)
        self.core = self.venv.core
        super().__init__(num_envs, self.venv.single_observation_space, self.venv.single_action_space)
        self._actions: np.ndarray | None = None
        self._seed: int | None = None

    def reset(self) -> dict[str, np.ndarray]:
        seeds = [None if self._seed is None else self._seed + i for i in range(self.num_envs)]
        self._seed = None
        self.core.reset(np.arange(self.num_envs), seeds)
        return self.core.obs()

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        self._seed = seed
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        from cosmos3_gym.embodiment.spaces import check_action

        actions = check_action(self._actions, (self.num_envs, *self.action_space.shape))
        reward, terminated, success, info = self.core.step(actions)
        truncated = (self.core.elapsed >= self.venv.max_episode_steps) | info["guard_truncated"]
        done = terminated | truncated
        last = self.core.obs()
        infos: list[dict[str, Any]] = [
            {
                "is_success": bool(success[i]),
                "goal_distance": float(info["goal_distance"][i]),
                "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                "effector": info["effector"][i],
            }
            for i in range(self.num_envs)
        ]
        if "model_uncertainty" in info:  # kept per transition so HER relabelling can apply the penalty too
            for i in range(self.num_envs):
                infos[i]["model_uncertainty"] = float(info["model_uncertainty"][i])
        finished = np.flatnonzero(done)
        for i in finished:
            infos[i]["terminal_observation"] = {k: v[i] for k, v in last.items()}
        if finished.size:
            self.core.reset(finished, [None] * finished.size)
        self.core.after_step()
        return self.core.obs(), reward.astype(np.float32), done, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.venv, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        if method_name == "compute_reward":  # HER relabelling: one batched call serves every index
            from cosmos3_gym.tasks import compute_reward, effector_from_info

            achieved, desired = args[0], args[1]
            infos = args[2] if len(args) > 2 else None
            core = self.core
            eff = effector_from_info(infos)
            reward = compute_reward(achieved, desired, core.task, core.reward_type, eff, core.emb.spec.workspace)
            penalty = self.core.guards.uncertainty_penalty
            if (
                penalty
                and infos is not None
                and np.ndim(reward) == 1
                and len(infos) == len(reward)
                and all("model_uncertainty" in d for d in infos)
            ):  # same penalty as the stored transitions
                reward = reward - penalty * np.array([d["model_uncertainty"] for d in infos])
            return [reward]
        return [getattr(self.venv, method_name)(*args, **kwargs)] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))
