"""End-effector delta controller: native action → TCP targets → DLS IK → position actuators.

Per control step (1 / fps seconds) and per arm: the TCP target is the measured TCP pose moved by
``a[:3] · max_translation_m`` (base frame) and rotated by ``exp(a[3:6] · max_rotation_rad)`` (base
frame, about the TCP); IK turns it into joint targets for the arm's position actuators; the gripper
command ``a[6] ∈ [-1, 1]`` maps linearly onto [closed, open]. Then ``substeps`` physics steps run.
"""

from __future__ import annotations

import mujoco
import numpy as np

from cosmos3_gym.embodiment.kinematics import site_pose
from cosmos3_gym.sim.ik import SiteIK
from cosmos3_gym.tokens import Embodiment
from cosmos3_gym.tokens.native import NativeActionMap


class EEDeltaController:
    """Executes native actions ``(native_action_dim,)`` in ``[-1, 1]`` on an ``MjData``."""

    def __init__(self, emb: Embodiment, model: mujoco.MjModel) -> None:
        spec = emb.spec
        self.emb, self.model = emb, model
        self.act = spec.action
        sites = {e.name: e.site for e in spec.end_effectors}
        grippers = {g.name: g for g in spec.grippers}
        self.iks = [SiteIK(model, sites[a.end_effector], a.joints, spec.controller.damping) for a in self.act.arms]
        self.iterations = spec.controller.ik_iterations
        self.substeps = spec.controller.substeps
        self.arm_actuators = [np.array([self._actuator_for(j) for j in a.joints]) for a in self.act.arms]
        self.grippers = [grippers[a.gripper] for a in self.act.arms]
        self.gripper_actuators = [model.actuator(g.actuator).id for g in self.grippers]
        self.map = NativeActionMap(emb)
        # Sites of every Cosmos3 pose block (AgiBot: head camera too), for replay checks.
        self.block_sites = [model.site(sites[n]).id for n in emb.contract.pose_names]

    def _actuator_for(self, joint: str) -> int:
        jid = self.model.joint(joint).id
        for a in range(self.model.nu):
            if self.model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT and self.model.actuator_trnid[a, 0] == jid:
                return a
        raise ValueError(f"{self.emb.spec.mjcf_path.name}: joint {joint!r} has no position actuator")

    def arm_tcp(self, data: mujoco.MjData) -> np.ndarray:
        """Measured TCP poses of the controlled arms ``(arms, 4, 4)``, base frame."""
        return np.stack([site_pose(data, ik.site) for ik in self.iks])

    def step(self, data: mujoco.MjData, action: np.ndarray) -> np.ndarray:
        """Apply one native action in ``[-1, 1]`` (the env clipped it) and advance physics by one control
        period.

        Returns the raw Cosmos3 action ``(raw_action_dim,)`` of the commanded step.
        """
        target, raw = self.map.command(self.arm_tcp(data), action)
        for arm, ik in enumerate(self.iks):
            q, _, _ = ik.solve(data.qpos, target[arm], self.iterations)
            data.ctrl[self.arm_actuators[arm]] = q
            data.ctrl[self.gripper_actuators[arm]] = self.grippers[arm].ctrl(action[7 * arm + 6])
        mujoco.mj_step(self.model, data, nstep=self.substeps)
        # mj_step leaves positions-derived quantities (site poses) one substep stale; refresh them so the
        # observation, the next step's TCP pose and a restored state all agree exactly.
        mujoco.mj_forward(self.model, data)
        return raw
