"""``gym.make("Cosmos3-Franka-v0")``: one learned-simulator environment, and the backend factory.

The factory :func:`make_env` is the entry point of every learned id: ``backend="native"`` (default)
steps the world model, ``"mujoco"`` returns the MuJoCo twin, ``"remote"`` a served Cosmos3 model.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from cosmos3_gym.embodiment.spaces import action_space, check_action, observation_space
from cosmos3_gym.envs.learned_core import Guards, LearnedSimCore
from cosmos3_gym.model import Checkpoint
from cosmos3_gym.tasks import effector

BACKENDS = ("native", "mujoco", "remote")


class LearnedEnv(gym.Env):
    """A learned simulator: same spaces, task, rewards and reset distribution as the MuJoCo twin, but
    ``step`` predicts the next state with the world model (no physics).

    Args:
        embodiment, task: as the twin. model: checkpoint folder, ``"default"`` (shipped) or a Checkpoint.
        device: torch device. flow_steps: Euler steps of the flow per prediction (1 = fastest).
        chunk_actions: opt-in Cosmos3 forward-dynamics mode: one action = a whole chunk ``(16, A)``.
        uncertainty_samples, uncertainty_penalty, max_uncertainty, ood_sigma: see :class:`Guards`.
        render_mode: ``rgb_array`` draws the predicted state through the twin's scene.

    Actions outside ``[-1, 1]`` are clipped, as the twin's controller clips them; wrong shapes and
    NaN/inf raise ``ValueError``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(
        self,
        embodiment: str = "franka",
        task: str = "lift",
        model: str | Checkpoint | None = None,
        device: str = "cpu",
        reward_type: str = "dense",
        flow_steps: int = 1,
        chunk_actions: bool = False,
        uncertainty_samples: int = Guards.uncertainty_samples,
        uncertainty_penalty: float = 0.0,
        max_uncertainty: float | None = None,
        ood_sigma: float | None = None,
        render_mode: str | None = None,
        width: int = 480,
        height: int = 360,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        guards = Guards(uncertainty_samples, uncertainty_penalty, max_uncertainty, ood_sigma)
        self.core = LearnedSimCore(embodiment, task, 1, model, device, reward_type, flow_steps, guards, (height, width))
        self.emb, self.task = self.core.emb, self.core.task
        self.render_mode, self.chunk_actions = render_mode, chunk_actions
        self.metadata = {**self.metadata, "render_fps": self.emb.fps}
        single = action_space(self.emb.spec)
        self.observation_space = observation_space(self.core.layout.size)
        chunk = self.emb.chunk_size
        self.action_space = gym.spaces.Box(-1.0, 1.0, (chunk, *single.shape), np.float32) if chunk_actions else single

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.core.reset(np.array([0]), [seed])
        obs = self._single(self.core.obs())
        return obs, {
            "is_success": False,
            "goal_distance": float(np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"])),
            "effector": effector(self.core.layout, obs["observation"]),
        }

    def step(self, action: np.ndarray):
        action = check_action(action, self.action_space.shape)
        rows = action if self.chunk_actions else action[None]
        states, total = [], 0.0
        for row in rows:
            if int(self.core.stepper.rows[0]) >= self.core.stepper.chunk:
                self.core.after_step()
            reward, terminated, success, info = self.core.step(row[None])
            states.append(self.core.state[0].copy())
            total += float(reward[0])
            if terminated[0]:
                break
        self.core.after_step()
        out = {
            "is_success": bool(success[0]),
            "goal_distance": float(info["goal_distance"][0]),
            "reward_distance": float(-info["goal_distance"][0]) if self.core.reward_type == "dense" else 0.0,
            "cosmos3_action": info["cosmos3_action"][0],
            "guard_truncated": bool(info["guard_truncated"][0]),
            "effector": info["effector"][0],
        }
        if "model_uncertainty" in info:
            out["model_uncertainty"] = float(info["model_uncertainty"][0])
        if self.chunk_actions:
            out["states"] = np.stack(states)
        return self._single(self.core.obs()), total, bool(terminated[0]), bool(info["guard_truncated"][0]), out

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any) -> np.ndarray:
        """Batched reward for HER relabelling, identical to the twin's (``info``: one step's info dict or a
        sequence of them; the staged dense reward reads their ``effector``)."""
        from cosmos3_gym.tasks import compute_reward, effector_from_info

        eff, ws = effector_from_info(info), self.emb.spec.workspace
        return compute_reward(achieved_goal, desired_goal, self.task, self.core.reward_type, eff, ws)

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self.core.twin.render_qpos(self.core.qpos(0))
        return None

    def close(self) -> None:
        self.core.twin.close()

    @staticmethod
    def _single(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in obs.items()}


def make_env(embodiment: str = "franka", task: str = "lift", backend: str = "native", **kwargs: Any) -> gym.Env:
    """Entry point of ``Cosmos3-<Robot>[-<Task>]-v0``: pick the backend behind the same adapters."""
    if backend == "native":
        return LearnedEnv(embodiment, task, **kwargs)
    if backend == "mujoco":
        from cosmos3_gym.sim.twin_env import MujocoTwinEnv

        allowed = {"reward_type", "render_mode", "width", "height"}
        extra = set(kwargs) - allowed
        if extra:
            raise TypeError(f"backend='mujoco' does not take {sorted(extra)}; allowed: {sorted(allowed)}")
        return MujocoTwinEnv(embodiment, task, **kwargs)
    if backend == "remote":
        from cosmos3_gym.backends.remote_env import make_remote_env

        return make_remote_env(embodiment, task, **kwargs)
    raise ValueError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
