"""End-effector delta controller: native action → TCP targets → DLS IK → position actuators.

Per control step (1 / fps seconds) and per arm: the TCP target is the measured TCP pose moved by
``a[:3] · max_translation_m`` (base frame) and rotated by ``exp(a[3:6] · max_rotation_rad)`` (base
frame, about the TCP); IK turns it into joint targets for the arm's position actuators; the gripper
command ``a[6] ∈ [-1, 1]`` maps linearly onto [closed, open]. Then ``substeps`` physics steps run.
"""

from __future__ import annotations

import mujoco
import numpy as np

from cosmos3_gym.embodiment import Embodiment
from cosmos3_gym.sim.ik import SiteIK
from cosmos3_gym.tokens.rotation import axis_angle_to_matrix


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
        # Every pose block of the Cosmos3 layout: arms move theirs, the others (AgiBot head) stay put.
        self.block_sites = [model.site(sites[n]).id for n in emb.contract.pose_names]
        self.block_arm = {emb.contract.pose_names.index(a.end_effector): i for i, a in enumerate(self.act.arms)}
        self.gripper_arm = [next(i for i, a in enumerate(self.act.arms) if a.gripper == g)
                            for g in emb.contract.gripper_names]

    def _actuator_for(self, joint: str) -> int:
        jid = self.model.joint(joint).id
        for a in range(self.model.nu):
            if self.model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT and self.model.actuator_trnid[a, 0] == jid:
                return a
        raise ValueError(f"{self.emb.spec.mjcf_path.name}: joint {joint!r} has no position actuator")

    def gripper_value(self, g: np.ndarray | float, arm: int) -> np.ndarray | float:
        """Native gripper command in [-1, 1] → Cosmos3 gripper value (open fraction, or width in m)."""
        frac = (np.clip(g, -1.0, 1.0) + 1.0) / 2.0
        gr = self.grippers[arm]
        return frac * gr.max_width_m if gr.convention == "width_m" else frac

    def site_pose(self, data: mujoco.MjData, site: int) -> np.ndarray:
        tf = np.eye(4)
        tf[:3, :3] = data.site_xmat[site].reshape(3, 3)
        tf[:3, 3] = data.site_xpos[site]
        return tf

    def targets(self, data: mujoco.MjData, action: np.ndarray) -> np.ndarray:
        """Commanded TCP poses of every Cosmos3 pose block ``(P, 4, 4)`` for ``action`` (clipped)."""
        out = np.stack([self.site_pose(data, s) for s in self.block_sites])
        for block, arm in self.block_arm.items():
            a = action[7 * arm: 7 * arm + 7]
            out[block, :3, 3] += a[:3] * self.act.max_translation_m
            out[block, :3, :3] = axis_angle_to_matrix(a[3:6] * self.act.max_rotation_rad) @ out[block, :3, :3]
        return out

    def step(self, data: mujoco.MjData, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply one clipped native action and advance physics by one control period.

        Returns ``(poses_before (P, 4, 4), poses_commanded (P, 4, 4), gripper (G,))``: the inputs of
        :meth:`ActionContract.poses_to_actions` for this step's raw Cosmos3 action.
        """
        action = np.clip(action, -1.0, 1.0)
        before = np.stack([self.site_pose(data, s) for s in self.block_sites])
        target = self.targets(data, action)
        for block, arm in self.block_arm.items():
            q, _, _ = self.iks[arm].solve(data.qpos, target[block], self.iterations)
            data.ctrl[self.arm_actuators[arm]] = q
            gr = self.grippers[arm]
            frac = (action[7 * arm + 6] + 1.0) / 2.0
            data.ctrl[self.gripper_actuators[arm]] = gr.ctrl_closed + frac * (gr.ctrl_open - gr.ctrl_closed)
        mujoco.mj_step(self.model, data, nstep=self.substeps)
        # mj_step leaves positions-derived quantities (site poses) one substep stale; refresh them so the
        # observation, the next step's TCP pose and a restored state all agree exactly.
        mujoco.mj_forward(self.model, data)
        grip = np.array([self.gripper_value(action[7 * arm + 6], arm) for arm in self.gripper_arm])
        return before, target, grip
