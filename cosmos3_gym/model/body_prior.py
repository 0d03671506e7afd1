"""The robot's own body in the world model's priors: where the arms and fingers go in one control step.

The controllers reach their commanded TCP poses within a millimetre on most steps, but not everywhere. Where
the controller stops short (a joint at its limit, an arm at the edge of its reach) the commanded pose runs on
past where MuJoCo's arm stops (WidowX under action reversals: 85 mm at 16 steps): the kinematic prior puts each
TCP where the twin's own IK step takes the arm from the state's joints (:mod:`cosmos3_gym.embodiment.chain`),
and those joints become the state's (WidowX: 1 mm). Where the servos lag or swing (saturated or undamped
actuators: Franka, AgiBot), the servo prior moves the joints toward those IK targets through the actuators'
dynamics instead (:mod:`cosmos3_gym.embodiment.servo`). An arm pressed down stops where its gripper meets the
table (:mod:`cosmos3_gym.embodiment.hull`), which the generator never learned: it let UR5e's TCP sink 10 mm
deeper than MuJoCo's, beside the cube it should have grasped. And the fingers open and close as their actuator
drives them (:mod:`cosmos3_gym.embodiment.finger_servo`): the generator erred by 2-4 mm in the opening after 16
steps and let closing fingers pass through the cube in one step, so that no grasp formed. Each is chosen per
embodiment by ``cosmos3-gym calibrate-fd``.
"""

from __future__ import annotations

import numpy as np

from cosmos3_gym.embodiment.chain import ArmChain
from cosmos3_gym.embodiment.finger_servo import FingerServo
from cosmos3_gym.embodiment.hull import GripperHull, rest_on_table
from cosmos3_gym.embodiment.servo import JointServo
from cosmos3_gym.tokens import Embodiment


class BodyPrior:
    """Arms and fingers of one embodiment over one control step. States are observation vectors ``(N, S)``.

    ``kinematic``: each arm goes where the controller's IK step takes it from its joints (else :meth:`reach`
    leaves the commanded poses); ``servo``: it moves there through its position servos; ``table_depth``: it stops
    where its gripper is this deep (m) below the table (None: never); ``fingers``: the fingers move through their
    actuator (:meth:`fingers`)."""

    def __init__(
        self,
        emb: Embodiment,
        kinematic: bool = False,
        servo: bool = False,
        table_depth: float | None = None,
        fingers: bool = False,
    ) -> None:
        self.emb, self.layout, self.num_arms = emb, emb.layout, emb.layout.num_arms
        model, arms = emb.kinematics.model, emb.spec.action.arms
        sites, grips = {e.name: e.site for e in emb.spec.end_effectors}, {g.name: g for g in emb.spec.grippers}
        #: The controller's IK per arm (:meth:`reach`); None: TCPs go to their commanded poses.
        self.chains: list[ArmChain] | None = None
        if kinematic:
            ctl = emb.spec.controller
            self.chains = [
                ArmChain(model, sites[a.end_effector], a.joints, ctl.damping, ctl.ik_iterations) for a in arms
            ]
            #: Robot qpos indices of the arms' joints (:meth:`reach`).
            self.arm_joints = np.concatenate([c.qadr for c in self.chains])
        #: The arms' position servos (:meth:`reach`); None: each joint arrives at its IK target within the step.
        self.servos: list[JointServo] | None = None
        if servo:
            if not kinematic:
                raise ValueError("the servo prior drives the kinematic prior's IK targets: it needs kinematic=True")
            if "joint_vel" not in self.layout.parts:
                raise ValueError(f"{emb.name}: the servo prior needs 'joint_vel' in the YAML's observation")
            subs = emb.spec.controller.substeps
            self.servos = [JointServo(model, a.joints, subs) for a in arms]
            #: Robot qvel indices of the arms' joints.
            self.arm_dofs = np.concatenate([s.dadr for s in self.servos])
        #: Each arm's gripper geometry: it stops on the table ``table_depth`` (m) deep (:meth:`reach`), and with
        #: finger servos, fingers closing on the cube between them stop at it (CommandPrior.grasp).
        self.hulls: list[GripperHull] | None = None
        self.floor_z = None if table_depth is None else emb.spec.workspace.table_z - table_depth
        if table_depth is not None and not kinematic:
            raise ValueError("table contact moves the kinematic prior's joints: it needs kinematic=True")
        if table_depth is not None or fingers:
            self.hulls = [GripperHull(model, sites[a.end_effector], list(grips[a.gripper].joints)) for a in arms]
        #: Each arm's finger dynamics (:meth:`fingers`); None: the generator predicts the grippers.
        self.finger_servos: list[FingerServo] | None = None
        if fingers:
            if "joint_vel" not in self.layout.parts:
                raise ValueError(f"{emb.name}: the finger servo needs 'joint_vel' in the YAML's observation")
            self.grippers = [grips[a.gripper] for a in arms]
            subs = emb.spec.controller.substeps
            self.finger_servos = [
                FingerServo(model, g.actuator, g.joints, g.width_scale, g.width_offset_m, subs) for g in self.grippers
            ]

    def reach(self, state: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Where the controller takes each arm toward its commanded pose ``target (N, arms, 4, 4)`` from the
        joints of ``state (N, S)``: the twin's own IK step (damped least squares, clipped to the joint limits),
        so an arm at a joint limit or at the edge of its reach stops short as in MuJoCo; with :attr:`servos`,
        the arm then moves toward those IK targets through its position servos' dynamics from the state's joint
        velocities, so it lags and swings as MuJoCo's does; with a table depth, an arm whose gripper would end below
        the table stops on it (:meth:`_rest`). Returns (the TCP poses reached ``(N, arms, 4, 4)``,
        the arms' joint positions there ``(N, arm joints)`` in the order of :attr:`arm_joints`, followed with
        servos by their velocities in the order of :attr:`arm_dofs`); without :attr:`chains`,
        ``(target, None)``."""
        if self.chains is None:
            return target, None
        joints = np.array(self.layout.get(state, "joint_pos"), dtype=np.float64, copy=True)
        reached = np.empty_like(target)
        if self.servos is None:
            for a, chain in enumerate(self.chains):
                q, reached[:, a] = chain.solve(joints, target[:, a])
                joints[:, chain.qadr] = q
                self._rest(a, joints, reached)
            return reached, joints[:, self.arm_joints]
        vel = self.layout.get(state, "joint_vel")
        moved, speeds = joints.copy(), []
        for a, (chain, servo) in enumerate(zip(self.chains, self.servos, strict=True)):
            ik, _ = chain.solve(joints, target[:, a])  # the controller solves every arm from the measured joints
            moved[:, chain.qadr], v = servo.step(joints, vel[:, servo.dadr], ik)
            reached[:, a] = chain.forward(moved)
            if self.floor_z is not None:  # stopped by the table: the step's mean speed
                rows = self._rest(a, moved, reached)
                v[rows] = (moved[rows][:, chain.qadr] - joints[rows][:, chain.qadr]) * self.emb.fps
            speeds.append(v)
        return reached, np.concatenate([moved[:, self.arm_joints], *speeds], axis=1)

    def _rest(self, arm: int, joints: np.ndarray, reached: np.ndarray) -> np.ndarray:
        """Arm ``arm`` of ``joints (N, nq)`` and ``reached (N, arms, 4, 4)`` stopped where its gripper meets the
        table (:func:`~cosmos3_gym.embodiment.hull.rest_on_table`), in place; returns the rows it stopped."""
        if self.floor_z is None:
            return np.empty(0, np.int64)
        chain = self.chains[arm]
        rows, q, pose = rest_on_table(self.hulls[arm], chain, joints, reached[:, arm], self.floor_z)
        joints[rows[:, None], chain.qadr] = q
        reached[rows, arm] = pose
        return rows

    def fingers(self, state: np.ndarray, pred: np.ndarray, commands: np.ndarray) -> np.ndarray:
        """``pred (N, S)`` with each gripper's opening, finger joints and velocities where its actuator takes the
        fingers in one step from ``state``'s opening and finger velocity under native gripper commands ``(N,
        arms)`` (the twin's controller maps them onto the actuator's range), in place; without
        :attr:`finger_servos` unchanged."""
        if self.finger_servos is None:
            return pred
        lay = self.layout
        pos, vel = lay.parts["joint_pos"].start, lay.parts["joint_vel"].start
        for a, (servo, g) in enumerate(zip(self.finger_servos, self.grippers, strict=True)):
            s = (lay.arm(state, "gripper_width", a)[..., 0] - servo.width_offset) / servo.width_per_s
            ctrl = g.ctrl(np.asarray(commands)[:, a])
            s, v = servo.step(s, state[:, vel + servo.dadr[0]], ctrl)
            pred[:, pos + servo.qadr], pred[:, vel + servo.dadr] = servo.joints(s), v[:, None] * servo.ratio
            lay.arm(pred, "gripper_width", a)[..., 0] = servo.width(s)
        return pred

    def with_joints(self, pred: np.ndarray, joints: np.ndarray | None) -> np.ndarray:
        """``pred (N, S)`` with the arms' joint positions (and with servos velocities) set to ``joints`` (from
        :meth:`reach`; None: ``pred`` unchanged), in place: the arms stay where the TCP prior put them; every
        other joint (fingers, a waist) keeps its prediction."""
        if joints is not None:
            k = len(self.arm_joints)
            pred[:, self.layout.parts["joint_pos"].start + self.arm_joints] = joints[:, :k]
            if self.servos is not None:
                pred[:, self.layout.parts["joint_vel"].start + self.arm_dofs] = joints[:, k:]
        return pred
