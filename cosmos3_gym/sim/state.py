"""Reads the observation vector (:mod:`cosmos3_gym.embodiment.layout`) out of a MuJoCo ``MjData``."""

from __future__ import annotations

import mujoco
import numpy as np

from cosmos3_gym.embodiment.kinematics import CUBE_JOINT
from cosmos3_gym.embodiment.layout import obs_layout
from cosmos3_gym.tokens import Embodiment


class ObsReader:
    """Reads the observation vector out of an ``MjData`` (after ``mj_forward`` / ``mj_step``)."""

    def __init__(self, emb: Embodiment, model: mujoco.MjModel) -> None:
        self.layout = obs_layout(emb.spec, model)
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
