"""The cube where the recorded data never shows it: struck by an opening finger, and sliding with nothing touching it.

Fingers driven by their actuators (:class:`~cosmos3_gym.embodiment.finger_servo.FingerServo`) open by up to
34 mm per finger in one control step. In MuJoCo a finger opening against the cube's side strikes it: the cube
leaves at about twice the finger's speed (a light body struck by a heavy, position-controlled one), 72-93 mm in
that step, and slides on, slowed by Coulomb friction (Franka Push, an agent trained inside the model). The
generator moved it 2 mm, and an agent trained inside the model learned to flick the cube that way, which in
MuJoCo throws it off the table's goal. So:

- :meth:`CubeMotion.strike`: an opening finger whose sweep this step meets the cube (a swept separating-axis test,
  :meth:`CubeMotion._gap`) moves the cube along the table at least ``(1 + e)`` times the sweep left after the gap
  (:data:`RESTITUTION` e) in the finger's direction, on top of the generator's step;
- :meth:`CubeMotion.slide`: a cube on the table that no gripper touches (farther than :data:`TOUCH_MARGIN_M` from
  the bounding box of every gripper geom, :meth:`GripperHull.clearance`, before and after the step) keeps its last
  horizontal direction with its step shortened by a share of ``μ g dt²`` (μ: the larger sliding friction of the
  cube's and the world's geoms, as MuJoCo combines them; :data:`SLOWING_SHARE`), so it stops. In MuJoCo an
  untouched cube never speeds up.

Against MuJoCo (``benchmarks/cube_motion.py``) strikes point within 9-15° of MuJoCo's and are 0.7-2.2 times its
size; slides land no nearer than a cube kept in place would. Both run only for an embodiment whose stats say
``cube_motion``; :meth:`CubeMotion.touched` (where a gripper touches the cube) serves the finger prior either way.
"""

from __future__ import annotations

import itertools

import numpy as np

from cosmos3_gym.embodiment.hull import GripperHull
from cosmos3_gym.embodiment.kinematics import CUBE_JOINT
from cosmos3_gym.tokens import Embodiment
from cosmos3_gym.tokens.rotation import rot6d_to_matrix

#: Restitution of a finger striking the cube: the cube moves ``1 + e`` times the finger's sweep past the contact.
RESTITUTION = 1.0
#: A cube touches a gripper geom within this distance (m); a struck cube may start overlapping the finger by as
#: much (soft contacts).
TOUCH_MARGIN_M = 0.003
#: Where a strike or a slide leaves the cube this far (m, along the table) from the generator's prediction, the
#: generator's chunk restarts from the state: within a chunk its context holds its own predictions, and it pulled a
#: struck cube 54 mm back to where it had put it.
RESYNC_M = 0.005
#: Gravity (m/s²).
GRAVITY = 9.81
#: The share of ``μ g`` by which a sliding cube slows: MuJoCo's struck cubes hop and tumble, slowing at about a
#: quarter of what a box sliding flat would (median 0.27 over Franka's untouched cubes moving > 10 mm per step,
#: training seeds).
SLOWING_SHARE = 0.25


_SIGNS = np.array(list(itertools.product((-1.0, 1.0), repeat=3)))  # (8, 3): a box's corners


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether point sets ``a (N, P, K)`` and ``b (N, Q, K)`` overlap in projection on each of K axes: ``(N, K)``."""
    return (a.max(1) >= b.min(1)) & (b.max(1) >= a.min(1))


def _geom(hull: GripperHull) -> np.ndarray:
    """The geom index ``(C,)`` of each of ``hull``'s corners."""
    return np.searchsorted(hull.starts, np.arange(len(hull.corners)), side="right") - 1


class CubeMotion:
    """Strikes and slides of the cube of one embodiment; ``hulls``: each controlled arm's gripper geometry.
    States are observation vectors ``(N, S)``."""

    def __init__(self, emb: Embodiment, hulls: list[GripperHull]) -> None:
        self.layout, self.hulls = emb.layout, hulls
        self.half = emb.spec.workspace.cube_half_size
        model = emb.kinematics.model
        body = model.jnt_bodyid[model.joint(CUBE_JOINT).id]
        cube = np.arange(model.body_geomadr[body], model.body_geomadr[body] + model.body_geomnum[body])
        world = np.flatnonzero(model.geom_bodyid == 0)
        mu = max(model.geom_friction[cube, 0].max(), model.geom_friction[world, 0].max() if len(world) else 0.0)
        #: How much a sliding cube's step shortens per control step (m): :data:`SLOWING_SHARE` of ``μ g dt²``.
        self.slowing = SLOWING_SHARE * mu * GRAVITY / emb.fps**2
        #: Per arm: the finger joints' qpos addresses and qpos0, and the distance (m) from the TCP beyond which a
        #: cube cannot touch the gripper with the fingers at qpos0 (:meth:`_near`).
        self._bounds = []
        for h in hulls:
            qadr = np.unique(h.qadr[h.qadr >= 0])
            qpos0 = np.array([h.qpos0[h.qadr == q][0] for q in qadr])
            self._bounds.append((qadr, qpos0, h.reach + self.half * np.sqrt(3.0) + TOUCH_MARGIN_M))
        #: Per arm, per finger joint: (qpos address, the finger's corners at qpos0 ``(F, 3)``, its unit axis ``(3,)``,
        #: its geoms' axes ``(3 G, 3)``), in the site frame.
        self.fingers = [
            [
                (
                    q,
                    h.corners[h.qadr == q],
                    h.axes[h.qadr == q][0],
                    h.frames[np.unique(_geom(h)[h.qadr == q])].reshape(-1, 3),
                )
                for q in np.unique(h.qadr[h.qadr >= 0])
            ]
            for h in hulls
        ]

    def _near(self, state: np.ndarray, arm: int, *joints: np.ndarray) -> np.ndarray:
        """Rows ``(M,)`` of ``state (N, S)`` whose cube may come within :data:`TOUCH_MARGIN_M` of arm ``arm``'s
        gripper with its fingers anywhere between the finger positions of ``joints`` (each ``(N, ≥ nq)``): a bound
        by the distance from the TCP (:attr:`GripperHull.reach`, plus how far the fingers are from qpos0 along
        their unit axes), so that the exact tests skip the many cubes far from any gripper."""
        lay, (qadr, qpos0, bound) = self.layout, self._bounds[arm]
        offset = lay.get(state, "cube_pos") - lay.arm(state, "tcp_pos", arm)
        reach = np.full(len(state), bound)
        for j in joints if len(qadr) else ():
            reach = np.maximum(reach, bound + np.abs(j[:, qadr] - qpos0).max(-1))
        return np.flatnonzero((offset * offset).sum(-1) <= reach * reach)

    def _site(self, state: np.ndarray, arm: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cube's centre ``(N, 3)`` and rotation ``(N, 3, 3)`` in arm ``arm``'s TCP frame, and that frame's
        rotation ``(N, 3, 3)`` in world."""
        lay = self.layout
        rot = rot6d_to_matrix(lay.arm(state, "tcp_rot6d", arm))
        centre = np.einsum("nji,nj->ni", rot, lay.get(state, "cube_pos") - lay.arm(state, "tcp_pos", arm))
        return centre, np.swapaxes(rot, -1, -2) @ rot6d_to_matrix(lay.get(state, "cube_rot6d")), rot

    def strike(self, state: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """``pred (N, S)`` with a cube that an opening finger's sweep from ``state`` to ``pred`` meets moved along
        the table in that finger's direction (the first finger that strikes it wins), in place."""
        lay, cube = self.layout, self.layout.parts["cube_pos"]
        q0, q1 = lay.get(state, "joint_pos"), lay.get(pred, "joint_pos")
        struck = np.zeros(len(state), bool)
        for a, hull in enumerate(self.hulls):
            # closing fingers meet the cube between them, where the other finger holds it: a grasp, not a strike
            opening = lay.arm(pred, "gripper_width", a)[:, 0] > lay.arm(state, "gripper_width", a)[:, 0]
            near = self._near(state, a, q0, q1)
            near = near[opening[near]]
            if not len(near):
                continue
            centre, cube_rot, rot = self._site(state[near], a)
            corners = centre[:, None] + (self.half * _SIGNS) @ np.swapaxes(cube_rot, -1, -2)  # (M, 8, 3) site frame
            for q, finger, axis, normals in self.fingers[a]:
                sweep = np.where(struck[near], 0.0, q1[near, q] - q0[near, q])
                sign = np.sign(sweep)
                sub = np.flatnonzero(sign != 0)  # rows of ``near``
                if not len(sub):
                    continue
                move = sign[sub, None] * axis
                shift = (q0[near[sub], q] - hull.qpos0[hull.qadr == q][0])[:, None, None] * axis
                gap = self._gap(finger + shift, normals, move, corners[sub], cube_rot[sub])
                hit = gap < np.abs(sweep[sub])
                sub, gap = sub[hit], gap[hit]
                if not len(sub):
                    continue
                rows = near[sub]
                world = np.einsum("nij,j->ni", rot[sub], axis) * sign[sub, None]
                world[:, 2] = 0.0  # the cube slides along the table
                norm = np.linalg.norm(world, axis=-1, keepdims=True)
                world = np.where(norm > 1e-6, world / np.maximum(norm, 1e-9), 0.0)
                push = (1.0 + RESTITUTION) * (np.abs(sweep[sub]) - np.maximum(gap, 0.0))
                index = rows[:, None], np.arange(cube.start, cube.stop)
                moved = pred[index] - state[rows, cube]  # the generator's step: the arm may push it too
                along = np.einsum("nj,nj->n", moved, world)
                pred[index] = state[rows, cube] + moved + world * np.maximum(push - along, 0.0)[:, None]
                struck[rows] = True
        return pred

    def _gap(
        self, finger: np.ndarray, normals: np.ndarray, move: np.ndarray, corners: np.ndarray, cube_rot: np.ndarray
    ) -> np.ndarray:
        """How far (m) a finger moving along ``move (N, 3)`` (unit) goes before it meets the cube ``(N,)`` (inf: it
        never does; from −:data:`TOUCH_MARGIN_M`: already touching). ``finger (N, F, 3)``: the corners of its
        geoms, ``normals (K, 3)``: their axes, ``corners (N, 8, 3)``: the cube's, ``cube_rot (N, 3, 3)``: the cube's
        axes (columns), all in the site frame.
        The separating-axis test swept along ``move`` over the two convex hulls (the face normals of both boxes
        and their edges' cross products): they meet once their projections overlap on every axis."""
        n, cube_axes = len(move), np.swapaxes(cube_rot, -1, -2)
        edges = np.cross(normals[None, :, None], cube_axes[:, None]).reshape(n, -1, 3)
        axes = np.concatenate([np.broadcast_to(normals, (n, *normals.shape)), cube_axes, edges], 1)  # (N, A, 3)
        axes = axes / np.maximum(np.linalg.norm(axes, axis=-1, keepdims=True), 1e-12)
        f, c = np.einsum("nfj,naj->nfa", finger, axes), np.einsum("ncj,naj->nca", corners, axes)
        speed = np.einsum("nj,naj->na", move, axes)
        lead, tail = np.where(speed >= 0, f.max(1), f.min(1)), np.where(speed >= 0, f.min(1), f.max(1))
        near, far = np.where(speed >= 0, c.min(1), c.max(1)), np.where(speed >= 0, c.max(1), c.min(1))
        parallel = np.abs(speed) < 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):
            enter = np.where(parallel, np.where(_overlap(f, c), -np.inf, np.inf), (near - lead) / speed)
            leave = np.where(parallel, np.where(_overlap(f, c), np.inf, -np.inf), (far - tail) / speed)
        t = enter.max(-1)
        return np.where((t <= leave.min(-1)) & (t > -TOUCH_MARGIN_M), t, np.inf)

    def touched(self, state: np.ndarray) -> np.ndarray:
        """Whether any gripper of ``state (N, S)`` touches the cube (within :data:`TOUCH_MARGIN_M`): ``(N,)`` bool."""
        joints, out = self.layout.get(state, "joint_pos"), np.zeros(len(state), bool)
        for a, hull in enumerate(self.hulls):
            rows = self._near(state, a, joints)
            if len(rows):
                centre, cube_rot, _ = self._site(state[rows], a)
                out[rows] |= hull.clearance(centre, cube_rot, self.half, joints[rows]) < TOUCH_MARGIN_M
        return out

    def slide(self, before: np.ndarray, state: np.ndarray, pred: np.ndarray, free: np.ndarray) -> np.ndarray:
        """``pred (N, S)`` with every cube of ``free (N,)`` (on the table, held by no arm) that moved over ``before →
        state`` and that no gripper touches in ``state`` or ``pred`` sliding on along that horizontal step, shortened
        by :attr:`slowing`, in place."""
        cube = self.layout.parts["cube_pos"]
        xy = np.arange(cube.start, cube.start + 2)
        last = state[:, xy] - before[:, xy]
        # a cube at rest is the contact gate's (most steps): only a moving one slides
        rows = np.flatnonzero(free & (np.abs(last).max(-1) > 0.0))
        if not len(rows):
            return pred
        rows = rows[~(self.touched(state[rows]) | self.touched(pred[rows]))]
        last = last[rows]
        length = np.linalg.norm(last, axis=-1, keepdims=True)
        scale = np.maximum(length - self.slowing, 0.0) / np.maximum(length, 1e-12)
        pred[rows[:, None], xy] = state[rows[:, None], xy] + last * scale
        return pred
