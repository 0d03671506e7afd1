"""MuJoCo model of an embodiment: compilation, name checks against the YAML, forward kinematics."""

from __future__ import annotations

import mujoco
import numpy as np

from cosmos3_gym.embodiment.spec import EmbodimentConfigError, EmbodimentSpec

CUBE_JOINT = "cube_joint"


def compile_model(spec: EmbodimentSpec) -> mujoco.MjModel:
    """Compile the MJCF, set ``timestep = 1 / (fps · substeps)`` and check every name the YAML uses."""
    try:
        model = mujoco.MjModel.from_xml_path(str(spec.mjcf_path))
    except ValueError as exc:  # mujoco raises ValueError with the XML parser's message
        raise EmbodimentConfigError(spec.source_file, "mjcf", str(spec.mjcf_path), f"must compile: {exc}") from exc
    model.opt.timestep = 1.0 / (spec.cosmos3.fps * spec.controller.substeps)

    def need(kind: mujoco.mjtObj, name: str, field: str) -> None:
        if mujoco.mj_name2id(model, kind, name) < 0:
            raise EmbodimentConfigError(
                spec.source_file, field, name, f"no {kind.name[6:].lower()} of that name in {spec.mjcf_path.name}"
            )

    for i, ee in enumerate(spec.end_effectors):
        need(mujoco.mjtObj.mjOBJ_SITE, ee.site, f"end_effectors[{i}].site")
    for i, g in enumerate(spec.grippers):
        need(mujoco.mjtObj.mjOBJ_ACTUATOR, g.actuator, f"grippers[{i}].actuator")
        for j in g.joints:
            need(mujoco.mjtObj.mjOBJ_JOINT, j, f"grippers[{i}].joints")
    for i, arm in enumerate(spec.action.arms):
        for j in arm.joints:
            need(mujoco.mjtObj.mjOBJ_JOINT, j, f"action.arms[{i}].joints")
    for name in spec.controller.hold_actuators:
        need(mujoco.mjtObj.mjOBJ_ACTUATOR, name, "controller.hold_actuators")
    need(mujoco.mjtObj.mjOBJ_JOINT, CUBE_JOINT, "mjcf")
    need(mujoco.mjtObj.mjOBJ_KEY, "home", "mjcf")
    return model


def site_pose(data: mujoco.MjData, site_id: int) -> np.ndarray:
    """World pose ``(4, 4)`` of a site (after ``mj_kinematics``/``mj_forward``)."""
    tf = np.eye(4)
    tf[:3, :3] = data.site_xmat[site_id].reshape(3, 3)
    tf[:3, 3] = data.site_xpos[site_id]
    return tf


class Kinematics:
    """Forward kinematics of the robot part of an embodiment's MJCF (the cube is ignored).

    ``robot_qpos`` is ``qpos`` without the cube's free joint (the cube is last in every MJCF).
    """

    def __init__(self, spec: EmbodimentSpec, model: mujoco.MjModel) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        cube_adr = model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, CUBE_JOINT)]
        self.robot_nq = int(cube_adr)
        self.site_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, e.site) for e in spec.end_effectors]
        self.order = [
            next(i for i, e in enumerate(spec.end_effectors) if e.name == n)
            for n in spec.cosmos3.layout
            if n in {e.name for e in spec.end_effectors}
        ]

    def forward(self, robot_qpos: np.ndarray) -> np.ndarray:
        """Robot joint positions ``(..., robot_nq)`` (rad / m) → native TCP poses of the pose blocks in
        Cosmos3 layout order, ``(..., P, 4, 4)`` in the base frame."""
        q = np.asarray(robot_qpos, dtype=np.float64)
        if q.shape[-1] != self.robot_nq:
            raise ValueError(f"robot_qpos must have shape (..., {self.robot_nq}), got {q.shape}")
        flat = q.reshape(-1, self.robot_nq)
        out = np.empty((flat.shape[0], len(self.order), 4, 4))
        for n, row in enumerate(flat):
            self.data.qpos[: self.robot_nq] = row
            mujoco.mj_kinematics(self.model, self.data)
            for p, k in enumerate(self.order):
                out[n, p] = site_pose(self.data, self.site_ids[k])
        return out.reshape(*q.shape[:-1], len(self.order), 4, 4)
