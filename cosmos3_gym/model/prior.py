"""Kinematic prior for forward dynamics: the state one action commands.

The controllers reach their commanded TCP poses within a millimetre on most steps
(``benchmarks/controller_tracking.py``; the tail is at joint and velocity limits), but a small
network spends most of its capacity learning that from 64-channel tokens: trained without this
prior, the same network errs 5.9-10.8 mm after a single step (with it 0.4-2.6 mm;
``benchmarks/results/prior_ablation.md``). So in forward-dynamics mode the
generator predicts each row's *residual* from a prior: every controlled arm's TCP at the pose the
raw Cosmos3 action commands from the previous state (previous TCP composed with the action's delta,
decoded exactly as the contract defines it), the cube-relative position following the first arm's
TCP, and every other channel (joints, gripper, cube) at its chunk-start value. The TCP residual is
then the controller's one-step tracking error; the other channels keep the chunk-relative target of
a plain model (a persistence prior there compounds: it doubled the gripper and cube errors at 64
steps).

Where the controller stops short of its command, lags or swings, or the gripper meets the table, the arms and
fingers move as the twin's own controller and actuators move them (:class:`~cosmos3_gym.model.body_prior.BodyPrior`,
the base of :class:`CommandPrior`).

The prior of row i needs the state before it, so generation with it is sequential
(:class:`~cosmos3_gym.model.stepper.ForwardStepper`); training uses the recorded previous states
(teacher forcing) and decodes each recorded raw action (:meth:`CommandPrior.commanded`), while an
environment already holds the commanded poses of the native action it converted
(:meth:`~cosmos3_gym.tokens.native.NativeActionMap.command`) and uses them directly
(:meth:`CommandPrior.from_poses`).

Inverse dynamics gets the same treatment turned round (:meth:`CommandPrior.inverse`): the analytic
contract inverse — the raw action whose commanded poses are the next observed TCPs — is what the
learned inverse refines. Replayed in MuJoCo it alone lands within 1.6-2.5 mm after 16 steps on four of
the five robots (``benchmarks/results/fidelity.md``); a network predicting whole actions replayed at
17.6-49.2 mm (``benchmarks/results/experiments/v3``).
"""

from __future__ import annotations

import numpy as np

from cosmos3_gym.model.body_prior import BodyPrior
from cosmos3_gym.model.cube_motion import GRAVITY, CubeMotion
from cosmos3_gym.tokens import Embodiment
from cosmos3_gym.tokens.native import NativeActionMap
from cosmos3_gym.tokens.rotation import matrix_to_rot6d, rot6d_to_matrix

#: A grasp forms when an arm's gripper opening is within this of the cube's size (m) with the cube's centre
#: near the TCP (:data:`GRASP_NEAR`): the twins' grasps sit within 0.3 mm and 7 mm of these on every
#: embodiment; an open gripper is centimetres wider, a closed pusher (Push) nearly shut. A grasp already
#: formed lasts while the cube stays that near and the gripper no wider than :data:`RELEASE_WIDTH_M` above
#: the cube's size.
GRASP_WIDTH_TOL_M = 0.004
#: How near the TCP a held cube's centre stays, in cube half-sizes (chosen on the select split: 1, 1.5 and 2
#: gave the same closed-loop Lift agreement, 2 the best open-loop one).
GRASP_NEAR = 2.0
#: A grasp held lasts until the gripper opens this far beyond the cube's size (m): a release opens it by
#: centimetres within a few steps, the model's width drifts by millimetres while holding.
RELEASE_WIDTH_M = 0.01
#: A new grasp forms only within this many control steps after the gripper was open wider than the grasp
#: band near the cube (:meth:`CommandPrior.since_open`).
OPEN_WITHIN = 2
#: How far one control step may open a gripper commanded to close (native command <= 0), m: MuJoCo's open
#: more than this in under 0.1 % of such steps (contacts pushing the fingers apart).
CLOSING_SLACK_M = 0.003
#: A cube whose lowest corner is more than this above the table (m) is in the air: nothing but a holding
#: gripper keeps it there (the table is the only other support in these scenes).
AIRBORNE_M = 0.003
#: Lowest a TCP goes above the table (m): the fingers rest on it first. MuJoCo's TCPs stayed 5.3 mm or more
#: above it on all five robots under random tilting actions pressing down (``benchmarks/table_floor.py``).
TCP_FLOOR_M = 0.004
#: How far below its resting height a cube pressed onto the table may sink, in cube half-sizes: MuJoCo's soft
#: contacts let a cube pressed by closed fingers sink up to 0.79 half-sizes (WidowX) in the same probe.
CUBE_SINK = 0.9


class CommandPrior(BodyPrior):
    """Commanded-pose prior of one embodiment. States are observation vectors ``(..., S)`` (m, rot6d).

    ``nmap``: the embodiment's action map (pose blocks and gripper conventions of the controlled arms),
    shared with the caller that converts native actions; a new one by default. ``object_prior``: a cube
    held by an arm moves rigidly with that arm's commanded pose (a model's ``object_prior`` flag).
    ``cube_motion``: with ``fingers``, an opening finger strikes the cube and a cube that nothing touches slides
    (:meth:`fall`); False: the generator moves the cube there."""

    def __init__(
        self,
        emb: Embodiment,
        nmap: NativeActionMap | None = None,
        object_prior: bool = False,
        kinematic: bool = False,
        servo: bool = False,
        table_depth: float | None = None,
        fingers: bool = False,
        cube_motion: bool = True,
    ) -> None:
        super().__init__(emb, kinematic, servo, table_depth, fingers)
        self.object_prior = object_prior
        #: The cube's contact with exact fingers: where they touch it (:meth:`fingers`) and, with ``cube_motion``,
        #: strikes and slides (:meth:`fall`); None: no exact fingers.
        self.motion = CubeMotion(emb, self.hulls) if object_prior and self.finger_servos is not None else None
        #: Whether :meth:`fall` runs the strike and the slide (the stats' ``cube_motion``, with exact fingers).
        self.strikes = cube_motion and self.motion is not None
        #: Per arm, the state columns of its fingers (opening, finger joints and their velocities): :meth:`fingers`.
        self.finger_cols = [
            np.r_[
                self._arm_slice("gripper_width", a).start,
                self.layout.parts["joint_pos"].start + servo.qadr,
                self.layout.parts["joint_vel"].start + servo.dadr,
            ]
            for a, servo in enumerate(self.finger_servos or ())
        ]
        self.nmap = nmap or NativeActionMap(emb)
        self.arm_block = self.nmap.arm_block
        self.pos = [self._arm_slice("tcp_pos", a) for a in range(self.num_arms)]
        self.rot = [self._arm_slice("tcp_rot6d", a) for a in range(self.num_arms)]
        self.cube_rel = self.layout.parts.get("cube_rel_pos")

    def _arm_slice(self, part: str, arm: int) -> slice:
        sl = self.layout.parts[part]
        width = (sl.stop - sl.start) // self.num_arms
        return slice(sl.start + arm * width, sl.start + (arm + 1) * width)

    def arm_tcp(self, state: np.ndarray) -> np.ndarray:
        """TCP poses of the controlled arms ``(..., arms, 4, 4)`` from states ``(..., S)``."""
        tcp = np.broadcast_to(np.eye(4), (*state.shape[:-1], self.num_arms, 4, 4)).copy()
        for a in range(self.num_arms):
            tcp[..., a, :3, 3] = state[..., self.pos[a]]
            tcp[..., a, :3, :3] = rot6d_to_matrix(state[..., self.rot[a]])
        return tcp

    def targets(self, state: np.ndarray, raw: np.ndarray, tcp: np.ndarray | None = None) -> np.ndarray:
        """Commanded TCP poses ``(..., arms, 4, 4)`` of raw actions ``(..., D)`` from ``state (..., S)``, as the
        contract decodes them from the state's TCPs (``tcp``: :meth:`arm_tcp` of ``state`` if the caller has it)."""
        lead = state.shape[:-1]
        tcp = (self.arm_tcp(state) if tcp is None else tcp).reshape(-1, self.num_arms, 4, 4)
        P = self.emb.num_poses
        blocks = np.broadcast_to(np.eye(4), (len(tcp), P, 4, 4)).copy()
        for arm, block in enumerate(self.arm_block):
            blocks[:, block] = tcp[:, arm]
        poses = self.emb.actions_to_poses(raw.reshape(-1, 1, raw.shape[-1]), blocks if P > 1 else blocks[:, 0])
        return (poses[:, 1] if P > 1 else poses[:, 1, None])[:, self.arm_block].reshape(*lead, self.num_arms, 4, 4)

    def commanded(
        self,
        state: np.ndarray,
        raw: np.ndarray,
        start: np.ndarray | None = None,
        tcp: np.ndarray | None = None,
        held: np.ndarray | None = None,
    ) -> np.ndarray:
        """The prior state after raw actions ``(..., D)`` from ``state (..., S)``: TCPs at the poses the contract
        decodes from the state's TCPs (:meth:`targets`), the other channels from ``start (..., S)`` (the
        chunk-start state; default ``state``). ``tcp``: :meth:`arm_tcp` of ``state`` when the caller has it;
        ``held``: see :meth:`from_poses`."""
        tcp = self.arm_tcp(state) if tcp is None else tcp
        base = np.broadcast_to(state if start is None else start, state.shape)
        return self.from_poses(self.targets(state, raw, tcp), base, state, tcp, held)

    def from_poses(
        self,
        target: np.ndarray,
        start: np.ndarray,
        prev: np.ndarray | None = None,
        prev_tcp: np.ndarray | None = None,
        held: np.ndarray | None = None,
    ) -> np.ndarray:
        """The prior state with every controlled arm's TCP at ``target (..., arms, 4, 4)`` (commanded
        poses), the cube-relative position following the first arm's TCP, and every other channel at
        ``start (..., S)``. With ``object_prior``, a cube held in ``prev (..., S)`` (the state the action
        starts from; ``prev_tcp``: its :meth:`arm_tcp` when the caller has it; ``held``: which arms hold the
        cube in ``prev``, as a rollout tracks it with :meth:`held`; None: detected from ``prev`` alone)
        moves with its arm."""
        out = np.array(start, dtype=np.float64, copy=True)
        for a in range(self.num_arms):
            out[..., self.pos[a]] = target[..., a, :3, 3]
            out[..., self.rot[a]] = matrix_to_rot6d(target[..., a, :3, :3])
        if self.object_prior and prev is not None:
            held = self.held(prev) if held is None else held
            self._carry(out, target, prev, self.arm_tcp(prev) if prev_tcp is None else prev_tcp, held)
            if self.cube_rel is not None:
                cube = self.layout.parts["cube_pos"]
                out[..., self.cube_rel] = out[..., cube] - out[..., self.pos[0]]
        elif self.cube_rel is not None:  # cube − TCP: the cube stays, the TCP moves
            out[..., self.cube_rel] = start[..., self.cube_rel] - (out[..., self.pos[0]] - start[..., self.pos[0]])
        return out

    def since_open(self, state: np.ndarray, ago: np.ndarray | None = None) -> np.ndarray:
        """Control steps ``(..., arms)`` since each arm's gripper was open wider than the grasp band with the
        cube near its TCP: 0 where it is so in ``state (..., S)``, else ``ago + 1`` (``ago`` None: a start
        state, where ``OPEN_WITHIN + 1`` stands for "not recently")."""
        lay, half = self.layout, self.emb.spec.workspace.cube_half_size
        cube = lay.get(state, "cube_pos")
        now = np.stack(
            [
                (lay.arm(state, "gripper_width", a)[..., 0] >= 2 * half + GRASP_WIDTH_TOL_M)
                & (np.linalg.norm(cube - state[..., self.pos[a]], axis=-1) < GRASP_NEAR * half)
                for a in range(self.num_arms)
            ],
            axis=-1,
        )
        return np.where(now, 0, OPEN_WITHIN + 1 if ago is None else ago + 1)

    def held(
        self, state: np.ndarray, holding: np.ndarray | None = None, open_ago: np.ndarray | None = None
    ) -> np.ndarray:
        """Which arm holds the cube in ``state (..., S)``: ``(..., arms)`` bool. ``holding (..., arms)``: the
        grasps held the step before (a rollout's memory; None: none). See :data:`GRASP_WIDTH_TOL_M`.

        ``open_ago (..., arms)``: :meth:`since_open` of ``state``. With it, a new grasp forms only within
        :data:`OPEN_WITHIN` steps of the fingers being open around the cube: fingers already about the
        cube's size cannot come down around it (they land on its top), and an agent trained inside the model
        had learned to "grasp" exactly that way, which MuJoCo never allows."""
        lay, half = self.layout, self.emb.spec.workspace.cube_half_size
        cube = lay.get(state, "cube_pos")
        out = []
        for a in range(self.num_arms):
            width = lay.arm(state, "gripper_width", a)[..., 0]
            near = np.linalg.norm(cube - state[..., self.pos[a]], axis=-1) < GRASP_NEAR * half
            grasp = np.abs(width - 2 * half) < GRASP_WIDTH_TOL_M
            if open_ago is not None:
                grasp &= open_ago[..., a] <= OPEN_WITHIN
            if holding is not None:
                grasp = grasp | (holding[..., a] & (width < 2 * half + RELEASE_WIDTH_M))
            out.append(near & grasp)
        return np.stack(out, axis=-1)

    def fingers(self, state: np.ndarray, pred: np.ndarray, commands: np.ndarray) -> np.ndarray:
        """:meth:`BodyPrior.fingers`, except for a gripper closed narrower than the cube that touches it in ``state``
        or in ``pred (N, S)`` (:meth:`CubeMotion.touched`): there the generator's fingers stay. The servo knows no
        contact; MuJoCo's pushing fingers are squeezed and pried by the cube (width ±1-2.5 mm, finger speeds of
        cm/s), which the generator learned from the data. A policy cloned inside the model with exact fingers
        there succeeded in 5 of 30 MuJoCo Push episodes, and in 26 with those channels masked."""
        if self.motion is None:
            return super().fingers(state, pred, commands)
        lay, half = self.layout, self.emb.spec.workspace.cube_half_size
        closed = lay.get(state, "gripper_width") < 2 * half - GRASP_WIDTH_TOL_M  # (N, arms)
        some = np.flatnonzero(closed.any(-1))  # the contact test only where a gripper could yield (env.step)
        kept = []
        if len(some):
            touch = np.zeros(len(state), bool)
            touch[some] = self.motion.touched(np.concatenate([state[some], pred[some]])).reshape(2, -1).any(0)
            for a, cols in enumerate(self.finger_cols):
                rows = np.flatnonzero(touch & closed[:, a])
                kept.append((rows, cols, pred[rows[:, None], cols]))
        out = super().fingers(state, pred, commands)
        for rows, cols, generated in kept:
            out[rows[:, None], cols] = generated
        return out

    def grasp(
        self, prev: np.ndarray, pred: np.ndarray, held: np.ndarray | None = None, prev_tcp: np.ndarray | None = None
    ) -> np.ndarray:
        """``pred (..., S)`` with a cube held in ``prev (..., S)`` kept rigidly in its arm's predicted grasp
        and every gripper around the cube no narrower than it (an ``object_prior`` model; otherwise ``pred``
        unchanged). A held cube is part of the gripper's rigid body; predicting its pose apart from the TCP's
        let the two drift apart by ~1 mm per step and drop the cube from a gripper holding still.
        ``held``, ``prev_tcp``: as in :meth:`from_poses`."""
        if not self.object_prior:
            return pred
        out = np.array(pred, dtype=np.float64, copy=True)
        prev_tcp = self.arm_tcp(prev) if prev_tcp is None else prev_tcp
        tcp = self.arm_tcp(pred)  # also ``out``'s: the carry moves only the cube
        self._carry(out, tcp, prev, prev_tcp, self.held(prev) if held is None else held)
        # Fingers that were open around the cube's centre cannot close below its size (the model alone
        # closed UMI's through it, and a grasp never formed); a closed pusher is not around it.
        lay, half = self.layout, self.emb.spec.workspace.cube_half_size
        cube = lay.get(out, "cube_pos")
        for a in range(self.num_arms):
            width, opening = lay.arm(out, "gripper_width", a), lay.arm(prev, "gripper_width", a)[..., 0]
            was_open = opening > 2 * half - GRASP_WIDTH_TOL_M
            if self.finger_servos is None:
                around = np.linalg.norm(cube - out[..., self.pos[a]], axis=-1) < half
            else:  # exact fingers close on whatever lies between them: the cube stops them
                local = np.einsum("...ji,...j->...i", tcp[..., a, :3, :3], cube - tcp[..., a, :3, 3])
                around = self.hulls[a].between(local, opening, half)
            stopped = around & was_open & (width[..., 0] < 2 * half)
            width[stopped] = 2 * half
            if self.finger_servos is not None and stopped.any():  # the fingers rest on the cube, at rest
                servo, rows = self.finger_servos[a], np.flatnonzero(stopped)
                s = (2 * half - servo.width_offset) / servo.width_per_s
                out[rows[:, None], lay.parts["joint_pos"].start + servo.qadr] = s * servo.ratio
                out[rows[:, None], lay.parts["joint_vel"].start + servo.dadr] = 0.0
        return out

    def gripper(self, prev: np.ndarray, pred: np.ndarray, commands: np.ndarray, holding: np.ndarray) -> np.ndarray:
        """``pred (..., S)`` with every gripper commanded to close (native command ``commands (..., arms)``
        <= 0) kept from opening (an ``object_prior`` model; otherwise ``pred`` unchanged): on a cube it holds
        (``holding (..., arms)``, from ``prev``) it stays at the cube's size, elsewhere it opens at most
        :data:`CLOSING_SLACK_M` beyond its width in ``prev``. The generator alone let closed grippers creep
        open: a held cube slipped out after ~80 steps of lifting, and a closed pusher opened by 2-3 cm on
        contact, which MuJoCo's position-controlled fingers never do."""
        if not self.object_prior:
            return pred
        lay, half = self.layout, self.emb.spec.workspace.cube_half_size
        out = np.array(pred, dtype=np.float64, copy=True)
        for a in range(self.num_arms):
            closing = np.asarray(commands)[..., a] <= 0.0
            width, before = lay.arm(out, "gripper_width", a)[..., 0], lay.arm(prev, "gripper_width", a)[..., 0]
            capped = np.where(closing, np.minimum(width, before + CLOSING_SLACK_M), width)
            lay.arm(out, "gripper_width", a)[..., 0] = np.where(closing & holding[..., a], 2 * half, capped)
        return out

    def fall(self, before: np.ndarray, prev: np.ndarray, pred: np.ndarray, holding: np.ndarray) -> np.ndarray:
        """``pred (..., S)`` with a cube no arm held in ``prev`` falling freely wherever it is in the air
        (an ``object_prior`` model; otherwise ``pred`` unchanged).

        The fall starts with the cube's vertical speed over ``before → prev`` (upward speed dropped), adds
        gravity for one control step and stops where the cube's lowest corner touches the table; its
        horizontal position and orientation stay as predicted. Without it a released cube hung in the air
        wherever the generator left it (nothing in the data shows a cube drop), and the contact gate, which
        keeps an untouched cube's pose, held it there for good.

        With finger servos and ``cube_motion``, first an opening finger strikes the cube and a cube on the table
        that nothing touches slides to a stop (:class:`~cosmos3_gym.model.cube_motion.CubeMotion`)."""
        if not self.object_prior:
            return pred
        lay, ws = self.layout, self.emb.spec.workspace
        z = lay.parts["cube_pos"].start + 2
        if self.strikes:
            pred = self.motion.strike(prev, np.array(pred, dtype=np.float64, copy=True))
            rest = ws.table_z + ws.cube_half_size * np.abs(rot6d_to_matrix(lay.get(prev, "cube_rot6d"))[..., 2, :]).sum(
                -1
            )
            pred = self.motion.slide(
                before, prev, pred, ~np.asarray(holding).any(-1) & (prev[..., z] <= rest + AIRBORNE_M)
            )
            if self.cube_rel is not None:
                pred[..., self.cube_rel] = pred[..., lay.parts["cube_pos"]] - pred[..., self.pos[0]]
        if not (pred[..., z] > ws.table_z + ws.cube_half_size + AIRBORNE_M).any():
            return pred  # every cube at most a flat cube's resting height: none is in the air (most steps)
        rot = rot6d_to_matrix(pred[..., lay.parts["cube_rot6d"]])
        rest = ws.table_z + ws.cube_half_size * np.abs(rot[..., 2, :]).sum(-1)
        free = ~np.asarray(holding).any(-1) & (pred[..., z] > rest + AIRBORNE_M)
        if not free.any():
            return pred
        out = np.array(pred, dtype=np.float64, copy=True)
        dt = 1.0 / self.emb.fps
        speed = np.minimum(prev[..., z] - before[..., z], 0.0) - GRAVITY * dt * dt
        land = prev[..., z] + speed
        land = np.where(land < rest + AIRBORNE_M, rest, land)  # within the airborne margin it has landed
        out[..., z] = np.where(free, land, pred[..., z])
        return out

    def floor(self, pred: np.ndarray) -> np.ndarray:
        """``pred (..., S)`` with nothing through the table (an ``object_prior`` model; otherwise unchanged):
        every TCP at least :data:`TCP_FLOOR_M` above it, the cube's centre at most :data:`CUBE_SINK` half-sizes
        below a flat cube's resting height (its other channels kept). Nothing in the data shows the table
        stopping a TCP or a cube pressed into it, and an agent trained inside the model had learned to drive
        its TCP centimetres through it."""
        if not self.object_prior:
            return pred
        lay, ws = self.layout, self.emb.spec.workspace
        z, tcp_z = lay.parts["cube_pos"].start + 2, [p.start + 2 for p in self.pos]
        tcp_floor, cube_floor = ws.table_z + TCP_FLOOR_M, ws.table_z + (1 - CUBE_SINK) * ws.cube_half_size
        if not ((pred[..., tcp_z] < tcp_floor).any() or (pred[..., z] < cube_floor).any()):
            return pred  # most steps
        out = np.array(pred, dtype=np.float64, copy=True)
        out[..., tcp_z] = np.maximum(out[..., tcp_z], tcp_floor)
        out[..., z] = np.maximum(out[..., z], cube_floor)
        if self.cube_rel is not None:
            out[..., self.cube_rel] = out[..., lay.parts["cube_pos"]] - out[..., self.pos[0]]
        return out

    def _carry(
        self, out: np.ndarray, target: np.ndarray, prev: np.ndarray, prev_tcp: np.ndarray, held: np.ndarray
    ) -> None:
        """Move the cube of ``out`` rigidly with the holding arm's motion ``prev_tcp → target`` where ``held
        (..., arms)`` (the first holding arm wins); elsewhere the cube keeps its ``out`` value."""
        pos, rot = self.layout.parts["cube_pos"], self.layout.parts["cube_rot6d"]
        cube_p, cube_r = prev[..., pos], rot6d_to_matrix(prev[..., rot])
        for a in reversed(range(self.num_arms)):
            sel = held[..., a]
            if not sel.any():
                continue
            turn = target[..., a, :3, :3] @ np.swapaxes(prev_tcp[..., a, :3, :3], -1, -2)
            offset = (turn @ (cube_p - prev_tcp[..., a, :3, 3])[..., None])[..., 0]
            out[sel, pos] = (target[..., a, :3, 3] + offset)[sel]
            out[sel, rot] = matrix_to_rot6d(turn @ cube_r)[sel]

    def inverse(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """Analytic contract inverse: raw Cosmos3 actions ``(..., D)`` that command the TCP poses of
        ``nxt (..., S)`` from those of ``prev (..., S)`` (the contract's ``T_i^-1 T_{i+1}``, as datasets
        record actions), gripper = the opening observed in ``nxt``; pose blocks no arm moves stay still."""
        lead = prev.shape[:-1]
        tcp0 = self.arm_tcp(prev).reshape(-1, self.num_arms, 4, 4)
        tcp1 = self.arm_tcp(nxt).reshape(-1, self.num_arms, 4, 4)
        n, P, G = len(tcp0), self.emb.num_poses, self.emb.contract.num_grippers
        pair = np.broadcast_to(np.eye(4), (n, 2, P, 4, 4)).copy()
        grip = np.zeros((n, 1, G))
        for arm, block in enumerate(self.arm_block):
            pair[:, 0, block], pair[:, 1, block] = tcp0[:, arm], tcp1[:, arm]
            width = self.layout.arm(nxt, "gripper_width", arm).reshape(n)
            gr = self.nmap.arm_gripper[arm]
            grip[:, 0, self.nmap.gripper_slot[arm]] = width if gr.convention == "width_m" else width / gr.max_width_m
        raw = self.emb.poses_to_actions(pair if P > 1 else pair[:, :, 0], grip if G > 1 else grip[..., 0])
        return raw[:, 0].reshape(*lead, -1)

    @property
    def channels(self) -> np.ndarray:
        """Indices of the channels the prior moves (TCP poses, cube-relative position)."""
        parts = [*self.pos, *self.rot] + ([self.cube_rel] if self.cube_rel is not None else [])
        return np.concatenate([np.arange(p.start, p.stop) for p in parts])
