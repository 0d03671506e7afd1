"""The observation layout shared by the MuJoCo twin and the learned simulator.

An observation is one flat float64 vector made of the parts the YAML lists (``observation:``), in that
order. The world model predicts exactly this vector, so both backends produce the same thing.
Parts (per controlled arm where marked):

- ``tcp_pos`` (3/arm, m, base frame), ``tcp_rot6d`` (6/arm), ``gripper_width`` (1/arm, m)
- ``joint_pos`` (robot nq: rad or m), ``joint_vel`` (robot nv: rad/s or m/s)
- ``cube_pos`` (3, m), ``cube_rot6d`` (6), ``cube_rel_pos`` (3: cube − first arm's TCP, m)
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from cosmos3_gym.embodiment.kinematics import CUBE_JOINT
from cosmos3_gym.embodiment.spec import EmbodimentSpec


@dataclass(frozen=True)
class ObsLayout:
    """Slices of each part inside the observation vector, plus the robot's qpos/qvel sizes."""

    parts: dict[str, slice]
    size: int
    num_arms: int
    robot_nq: int
    robot_nv: int

    def get(self, obs: np.ndarray, part: str) -> np.ndarray:
        """``obs[..., part]`` as an array view ``(..., width)``."""
        return obs[..., self.parts[part]]

    def arm(self, obs: np.ndarray, part: str, arm: int) -> np.ndarray:
        """One arm's slice of a per-arm part (``tcp_pos``, ``tcp_rot6d``, ``gripper_width``)."""
        sl = self.parts[part]
        width = (sl.stop - sl.start) // self.num_arms
        return obs[..., sl.start + arm * width : sl.start + (arm + 1) * width]

    def achieved(self, obs: np.ndarray, goal_part: str) -> np.ndarray:
        """The achieved goal ``(..., 3)`` (m) a task reads from ``goal_part``: the first arm's TCP for
        ``tcp_pos``, else the part itself (``cube_pos``). A copy, never a view."""
        part = self.arm(obs, "tcp_pos", 0) if goal_part == "tcp_pos" else self.get(obs, goal_part)
        return np.array(part, copy=True)


def obs_layout(spec: EmbodimentSpec, model: mujoco.MjModel) -> ObsLayout:
    """Build the layout for an embodiment spec and its compiled model."""
    arms = len(spec.action.arms)
    cube = model.joint(CUBE_JOINT)
    robot_nq, robot_nv = int(model.jnt_qposadr[cube.id]), int(model.jnt_dofadr[cube.id])
    widths = {
        "tcp_pos": 3 * arms,
        "tcp_rot6d": 6 * arms,
        "gripper_width": arms,
        "joint_pos": robot_nq,
        "joint_vel": robot_nv,
        "cube_pos": 3,
        "cube_rot6d": 6,
        "cube_rel_pos": 3,
    }
    parts, offset = {}, 0
    for name in spec.observation:
        parts[name] = slice(offset, offset + widths[name])
        offset += widths[name]
    for needed in ("tcp_pos", "cube_pos", "joint_pos"):
        if needed not in parts:
            raise ValueError(f"{spec.source_file}: observation must include '{needed}'")
    return ObsLayout(parts, offset, arms, robot_nq, robot_nv)
