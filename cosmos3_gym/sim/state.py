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

from cosmos3_gym.embodiment import Embodiment
from cosmos3_gym.embodiment.kinematics import CUBE_JOINT


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


def obs_layout(emb: Embodiment, model: mujoco.MjModel) -> ObsLayout:
    """Build the layout for an embodiment and its compiled model."""
    arms = len(emb.spec.action.arms)
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
    for name in emb.spec.observation:
        parts[name] = slice(offset, offset + widths[name])
        offset += widths[name]
    for needed in ("tcp_pos", "cube_pos", "joint_pos"):
        if needed not in parts:
            raise ValueError(f"{emb.spec.source_file}: observation must include '{needed}'")
    return ObsLayout(parts, offset, arms, robot_nq, robot_nv)


class ObsReader:
    """Reads the observation vector out of an ``MjData`` (after ``mj_forward`` / ``mj_step``)."""

    def __init__(self, emb: Embodiment, model: mujoco.MjModel) -> None:
        self.layout = obs_layout(emb, model)
        ee_site = {e.name: e.site for e in emb.spec.end_effectors}
        grippers = {g.name: g for g in emb.spec.grippers}
        self.tcp_sites = [model.site(ee_site[a.end_effector]).id for a in emb.spec.action.arms]
        self.grippers = [grippers[a.gripper] for a in emb.spec.action.arms]
        self.finger_adr = [np.array([model.jnt_qposadr[model.joint(j).id] for j in g.joints]) for g in self.grippers]
        cube = model.joint(CUBE_JOINT)
        self.cube_qadr = int(model.jnt_qposadr[cube.id])

    def tcp_pose(self, data: mujoco.MjData, arm: int) -> np.ndarray:
        tf = np.eye(4)
        tf[:3, :3] = data.site_xmat[self.tcp_sites[arm]].reshape(3, 3)
        tf[:3, 3] = data.site_xpos[self.tcp_sites[arm]]
        return tf

    def gripper_width(self, data: mujoco.MjData, arm: int) -> float:
        g = self.grippers[arm]
        return g.width_offset_m + float(np.dot(g.width_scale, data.qpos[self.finger_adr[arm]]))

    def read(self, data: mujoco.MjData) -> np.ndarray:
        lay = self.layout
        obs = np.empty(lay.size, dtype=np.float64)
        tcp = [self.tcp_pose(data, a) for a in range(lay.num_arms)]
        cube_pos = data.qpos[self.cube_qadr : self.cube_qadr + 3]
        cube_rot = np.empty(9)
        mujoco.mju_quat2Mat(cube_rot, data.qpos[self.cube_qadr + 3 : self.cube_qadr + 7])
        cube_rot = cube_rot.reshape(3, 3)
        values = {
            "tcp_pos": np.concatenate([t[:3, 3] for t in tcp]),
            "tcp_rot6d": np.concatenate([np.concatenate([t[:3, 0], t[:3, 1]]) for t in tcp]),
            "gripper_width": np.array([self.gripper_width(data, a) for a in range(lay.num_arms)]),
            "joint_pos": data.qpos[: lay.robot_nq],
            "joint_vel": data.qvel[: lay.robot_nv],
            "cube_pos": cube_pos,
            "cube_rot6d": np.concatenate([cube_rot[:, 0], cube_rot[:, 1]]),
            "cube_rel_pos": cube_pos - tcp[0][:3, 3],
        }
        for name, sl in lay.parts.items():
            obs[sl] = values[name]
        return obs
