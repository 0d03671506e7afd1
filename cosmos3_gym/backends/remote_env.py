"""``RemoteCosmos3Env``: a Gymnasium env whose next frames come from a served Cosmos3 model.

reset renders the start frame with the MuJoCo twin (same reset distribution as every other backend);
step sends one action chunk as a forward-dynamics request and returns the predicted clip's last frame.
The served model returns pixels only, so the env's TCP pose is the *commanded* one (the start pose
composed with every native delta sent so far), exactly what the twin's controller would aim for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from cosmos3_gym.backends.actions import native_chunk_to_raw
from cosmos3_gym.backends.protocol import SamplingConfig, action_canvas
from cosmos3_gym.backends.remote import RemoteCosmos3
from cosmos3_gym.embodiment import list_embodiments
from cosmos3_gym.embodiment.spaces import check_action
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tokens import Embodiment

#: Default task prompts (plain task text; the server or pipeline builds the caption around it).
TASK_PROMPTS = {
    "reach": "Move the gripper to the target position.",
    "push": "Push the cube to the target position on the table.",
    "lift": "Pick up the cube and lift it.",
}


class RemoteCosmos3Env(gym.Env):
    """One embodiment × task, stepped by a served Cosmos3 model (forward dynamics).

    Observation: RGB ``Box(0, 255, (H, W, 3), uint8)``. Action: one chunk ``Box(-1, 1, (chunk_size,
    7·arms), float32)`` of native actions (per arm ``[dx, dy, dz, rx, ry, rz, g]``, base frame, scaled
    by the YAML's ``max_translation_m`` / ``max_rotation_rad``). Reward: ``reward_fn(frames)`` on the
    predicted clip ``(chunk+1, H, W, 3)`` if given, else 0.0 (pixels carry no ground-truth state).
    Never terminates on its own; wrap it in a ``TimeLimit``.

    Args:
        embodiment, task: as the twin. endpoint: server URL (or pass ``client``).
        client: a ready :class:`RemoteCosmos3` (tests, custom retry policy).
        width, height: image size (a multiple of 16, within the ``image_size`` tier's canvas: the server pads
            the frame onto that canvas and the env cuts its predictions back to the frame).
        prompt: task text; default :data:`TASK_PROMPTS`. reward_fn: ``frames → float``.
        sampling: :class:`SamplingConfig`; its ``seed`` + the step index seeds each request.
        **client_kw: ``timeout_s``, ``job_timeout_s``, ``poll_interval_s``, ``retries``, ``backoff_s``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(
        self,
        embodiment: str | Embodiment = "franka",
        task: str = "lift",
        endpoint: str | None = None,
        *,
        client: RemoteCosmos3 | None = None,
        width: int = 256,
        height: int = 256,
        prompt: str | None = None,
        reward_fn: Callable[[np.ndarray], float] | None = None,
        sampling: SamplingConfig | None = None,
        render_mode: str | None = None,
        **client_kw: Any,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        if width < 16 or height < 16 or width % 16 or height % 16:
            raise ValueError(
                f"width and height must be positive multiples of 16 (MP4 macro blocks), got {width}x{height}"
            )
        if client is None:
            if not endpoint:
                raise ValueError("RemoteCosmos3Env needs endpoint='http://host:port' (or client=RemoteCosmos3(...))")
            client = RemoteCosmos3(embodiment, endpoint, sampling=sampling, **client_kw)
        elif endpoint is not None or client_kw or sampling is not None:
            raise ValueError("pass either client=... or endpoint/sampling/client options, not both")
        if reward_fn is not None and not callable(reward_fn):
            raise TypeError(f"reward_fn must be callable frames -> float, got {type(reward_fn).__name__}")
        self.client, self.emb = client, client.emb
        tier = client.sampling.image_size
        canvas = action_canvas(height, width, tier)
        if canvas.rescaled:  # the server would downscale the frame: predictions would not fit the observation space
            raise ValueError(
                f"a {width}x{height} frame exceeds the image_size={tier} canvas {canvas.canvas_w}x{canvas.canvas_h}; "
                f"use a larger image_size tier or a smaller frame"
            )
        asked = embodiment.name if isinstance(embodiment, Embodiment) else str(embodiment)
        if asked in list_embodiments() and asked != self.emb.name:
            raise ValueError(f"client is for embodiment {self.emb.name!r}, env asked for {asked!r}")
        self.twin = MujocoTwinEnv(self.emb, task, render_mode="rgb_array", width=width, height=height)
        self.task = self.twin.task
        self.prompt = prompt or TASK_PROMPTS[self.task.name]
        self.reward_fn, self.render_mode = reward_fn, render_mode
        self.metadata = {**self.metadata, "render_fps": self.emb.fps}
        self.observation_space = gym.spaces.Box(0, 255, (height, width, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.emb.chunk_size, self.emb.native_action_dim), np.float32)
        self._frame = np.zeros((height, width, 3), np.uint8)
        self._tcp = np.zeros((len(self.emb.spec.action.arms), 4, 4))
        self._steps, self._seed = 0, self.client.sampling.seed

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.twin.reset(seed=seed, options=options)
        self._frame = self.twin.render()
        self._tcp = self.twin.controller.arm_tcp(self.twin.data)
        self._steps = 0
        if seed is not None:
            self._seed = int(seed)
        return self._frame.copy(), {"tcp_poses": self._tcp.copy(), "desired_goal": self.twin.goal.copy()}

    def step(self, action: np.ndarray):
        chunk = check_action(action, self.action_space.shape)
        raw, commanded = native_chunk_to_raw(self.emb, self._tcp, chunk)
        result = self.client.forward_dynamics(self._frame, raw, self.prompt, seed=self._seed + self._steps)
        self._steps += 1
        self._frame = result.frames[-1].copy()
        self._tcp = commanded[-1]
        reward = float(self.reward_fn(result.frames)) if self.reward_fn is not None else 0.0
        info = {
            "frames": result.frames,
            "request_id": result.request_id,
            "cosmos3_actions": raw,
            "commanded_tcp_poses": commanded,
            "timings": result.timings,
        }
        return self._frame.copy(), reward, False, False, info

    def render(self) -> np.ndarray | None:
        return self._frame.copy() if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        self.twin.close()


def make_remote_env(
    embodiment: str = "franka", task: str = "lift", endpoint: str | None = None, **kw: Any
) -> RemoteCosmos3Env:
    """Factory behind ``gym.make(..., backend="remote", endpoint=...)``; kwargs as :class:`RemoteCosmos3Env`."""
    return RemoteCosmos3Env(embodiment, task, endpoint, **kw)
