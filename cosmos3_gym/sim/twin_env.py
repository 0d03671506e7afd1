"""The MuJoCo twin: ground-truth ``gym.Env`` for one embodiment × task.

Registered as ``Cosmos3-<Robot>-<Task>-MuJoCo-v0``. Same spaces, tasks, rewards and reset
distribution as the learned simulator, which takes its start states from :meth:`MujocoTwinEnv.reset`.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from cosmos3_gym.embodiment.spaces import action_space, check_action, observation_space
from cosmos3_gym.sim.controller import EEDeltaController
from cosmos3_gym.sim.state import ObsReader
from cosmos3_gym.tasks import (
    check_reward_type,
    compute_reward,
    effector,
    effector_from_info,
    get_task,
    goal_distance,
    is_success,
    is_terminated,
    sample_goal,
)
from cosmos3_gym.tokens import Embodiment, load_embodiment
from cosmos3_gym.tokens.rotation import rot6d_to_matrix

#: Std of the joint noise added to the home pose at reset (rad or m).
HOME_NOISE = 0.02


class MujocoTwinEnv(gym.Env):
    """Ground-truth manipulation env driven by an embodiment YAML + MJCF.

    Args:
        embodiment: shipped name or YAML path.
        task: ``reach`` | ``push`` | ``lift``.
        reward_type: ``dense`` (Reach −distance; Push and Lift staged in [0, 1]) or ``sparse`` (−1/0, Fetch).
        render_mode: ``rgb_array`` (off-screen, camera ``scene_cam``) or ``human`` (needs a display).
        width, height: render size in pixels.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 15}

    def __init__(
        self,
        embodiment: str | Embodiment = "franka",
        task: str = "lift",
        reward_type: str = "dense",
        render_mode: str | None = None,
        width: int = 480,
        height: int = 360,
    ) -> None:
        self.emb = embodiment if isinstance(embodiment, Embodiment) else load_embodiment(embodiment)
        self.task = get_task(task)
        self.reward_type = check_reward_type(reward_type)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.render_mode, self.width, self.height = render_mode, width, height
        self.metadata = {**self.metadata, "render_fps": self.emb.fps}
        self.model = self.emb.make_model()
        self.data = mujoco.MjData(self.model)
        self.controller = EEDeltaController(self.emb, self.model)
        self.reader = ObsReader(self.emb, self.model)
        self.layout = self.reader.layout
        self.action_space = action_space(self.emb.spec)
        self.observation_space = observation_space(self.layout.size)
        self._home = self.model.key("home").id
        self._arm_qadr = np.concatenate([ik.qadr for ik in self.controller.iks])
        self._cube_qadr = self.reader.cube_qadr
        self.goal = np.zeros(3)
        self._renderer: mujoco.Renderer | None = None
        self._viewer: Any = None

    # -- Gymnasium API -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        mujoco.mj_resetDataKeyframe(self.model, self.data, self._home)
        self.data.qpos[self._arm_qadr] += rng.normal(0.0, HOME_NOISE, size=self._arm_qadr.size)
        ws = self.emb.spec.workspace
        xy = rng.uniform(ws.cube_low, ws.cube_high)
        yaw = rng.uniform(-np.pi / 6, np.pi / 6)
        self.data.qpos[self._cube_qadr : self._cube_qadr + 7] = [
            xy[0],
            xy[1],
            ws.table_z + ws.cube_half_size,
            np.cos(yaw / 2),
            0.0,
            0.0,
            np.sin(yaw / 2),
        ]
        for ik, acts in zip(self.controller.iks, self.controller.arm_actuators, strict=True):
            self.data.ctrl[acts] = self.data.qpos[ik.qadr]  # hold the noisy start pose
        mujoco.mj_forward(self.model, self.data)
        self.goal = sample_goal(rng, self.task, ws, self.data.qpos[self._cube_qadr : self._cube_qadr + 3].copy())
        obs = self._obs()
        return obs, self._info(obs, None)

    def step(self, action: np.ndarray):
        action = check_action(action, self.action_space.shape)
        raw = self.controller.step(self.data, action)
        obs = self._obs()
        info = self._info(obs, raw)
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
        terminated = bool(is_terminated(self.layout.get(obs["observation"], "cube_pos"), self.emb.spec.workspace))
        if self.render_mode == "human":
            self.render()
        return obs, reward, terminated, False, info

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any) -> np.ndarray:
        """Batched reward for HER relabelling: ``(..., 3), (..., 3) → (...)``; ``info`` is one step's info
        dict or a sequence of them (the staged dense reward reads their ``effector``)."""
        eff = effector_from_info(info)
        return compute_reward(achieved_goal, desired_goal, self.task, self.reward_type, eff, self.emb.spec.workspace)

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self.render_qpos(self.data.qpos)
        if self.render_mode == "human":
            if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
                raise RuntimeError("render_mode='human' needs a display; use render_mode='rgb_array' headless")
            if self._viewer is None:
                import mujoco.viewer

                self._viewer = mujoco.viewer.launch_passive(self.model, self.data)
            self._viewer.sync()
        return None

    def state_qpos(self, state: np.ndarray) -> np.ndarray:
        """The ``qpos`` ``(nq,)`` of an observation vector ``(S,)`` (robot joints and cube pose), to render a
        state no simulation of this twin reached (a prediction, a recorded one)."""
        lay, q = self.layout, np.zeros(self.model.nq)
        q[: lay.robot_nq] = lay.get(state, "joint_pos")
        adr = self.reader.cube_qadr
        q[adr : adr + 3] = lay.get(state, "cube_pos")
        mujoco.mju_mat2Quat(q[adr + 3 : adr + 7], rot6d_to_matrix(lay.get(state, "cube_rot6d")).reshape(-1))
        return q

    def render_qpos(self, qpos: np.ndarray) -> np.ndarray:
        """Render an arbitrary configuration ``(nq,)`` through this scene (used for predicted states)."""
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, self.height, self.width)
            self._scratch = mujoco.MjData(self.model)
        self._scratch.qpos[:] = qpos
        mujoco.mj_forward(self.model, self._scratch)
        self._renderer.update_scene(self._scratch, camera="scene_cam")
        return self._renderer.render().copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None

    # -- state sync (validation, learned-sim resets) ---------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """Full simulator state: physics integration state (qpos, qvel, act, ctrl, time, warm start) + goal."""
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = np.empty(mujoco.mj_stateSize(self.model, spec))
        mujoco.mj_getState(self.model, self.data, physics, spec)
        return {
            "physics": physics,
            "goal": self.goal.copy(),
            "qpos": self.data.qpos.copy(),
            "qvel": self.data.qvel.copy(),
            "time": np.array(self.data.time),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Restore a state from :meth:`get_state` (``physics`` + ``goal``); returns the observation."""
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = np.asarray(state["physics"], dtype=np.float64)
        if physics.shape != (mujoco.mj_stateSize(self.model, spec),):
            raise ValueError(
                f"state['physics'] must have shape ({mujoco.mj_stateSize(self.model, spec)},), got {physics.shape}"
            )
        mujoco.mj_setState(self.model, self.data, physics, spec)
        self.goal = np.asarray(state["goal"], dtype=np.float64).copy()
        mujoco.mj_forward(self.model, self.data)
        return self._obs()

    # -- helpers -------------------------------------------------------------------------------------
    def _obs(self) -> dict[str, np.ndarray]:
        state = self.reader.read(self.data)
        achieved = self.layout.achieved(state, self.task.goal_part)
        return {"observation": state, "achieved_goal": achieved, "desired_goal": self.goal.copy()}

    def _info(self, obs: dict[str, np.ndarray], raw: np.ndarray | None) -> dict[str, Any]:
        d = float(goal_distance(obs["achieved_goal"], obs["desired_goal"]))
        info: dict[str, Any] = {
            "is_success": bool(is_success(obs["achieved_goal"], obs["desired_goal"], self.task)),
            "goal_distance": d,
            "effector": effector(self.layout, obs["observation"]),
        }
        if raw is not None:
            info["cosmos3_action"] = raw
        return info
