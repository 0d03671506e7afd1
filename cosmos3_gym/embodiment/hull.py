"""Where a gripper's lowest point is: the collision geometry an arm carries below its TCP.

An arm commanded down stops when its fingers (or its hand) rest on the table, and how high the TCP then is
depends on the gripper: 8 mm on Franka pointing straight down, 13 mm on UR5e, 18 mm on WidowX whose pads
reach past the TCP, and more when the gripper is tilted. :class:`GripperHull` holds points of every collision
geom in the subtree of the TCP site's body (box corners, cylinder rims, other shapes' bounding boxes) in the site
frame, the finger geoms' shifted along their slide joints, so one product gives the lowest world height of the
whole gripper from a TCP pose and the finger joints.
"""

from __future__ import annotations

import itertools

import mujoco
import numpy as np

from cosmos3_gym.embodiment.chain import ArmChain

_SIGNS = np.array(list(itertools.product((-1.0, 1.0), repeat=3)))  # (8, 3): a box's corners
#: Points on each rim of a cylinder: the lowest of them is within r (1 − cos(π/16)) < 2 % of the radius of the
#: cylinder's lowest point, where a bounding box's corner lies up to 41 % of it lower.
_RIM = 16


def _points(model: mujoco.MjModel, geom: int) -> np.ndarray:
    """Points ``(P, 3)`` in the geom's frame whose lowest is the geom's lowest in any pose: a box's corners, a
    cylinder's rims, the corners of the local bounding box (``geom_aabb``) of any other shape."""
    kind, size = int(model.geom_type[geom]), model.geom_size[geom]
    if kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
        angle = np.arange(_RIM) * 2 * np.pi / _RIM
        rim = np.stack([size[0] * np.cos(angle), size[0] * np.sin(angle), np.zeros(_RIM)], -1)
        cap = np.array([0.0, 0.0, size[1]])
        return np.concatenate([rim + cap, rim - cap])
    center, half = model.geom_aabb[geom, :3], model.geom_aabb[geom, 3:]
    return center + _SIGNS * half


class GripperHull:
    """The collision geometry below ``site`` (every geom with a contact type or affinity in the subtree of the
    site's body) of ``model``; ``fingers``: the slide joints that move parts of it. Corners are taken at the
    model's ``qpos0`` and moved with the finger joints' positions."""

    def __init__(self, model: mujoco.MjModel, site: str, fingers: list[str]) -> None:
        sid = model.site(site).id
        root = int(model.site_bodyid[sid])
        data = mujoco.MjData(model)
        mujoco.mj_kinematics(model, data)
        # The site's frame in world at qpos0; every corner is stored in it.
        site_rot, site_pos = data.site_xmat[sid].reshape(3, 3), data.site_xpos[sid]
        joint_of = {}
        for name in fingers:
            j = model.joint(name).id
            if int(model.jnt_type[j]) != mujoco.mjtJoint.mjJNT_SLIDE:
                raise ValueError(f"finger joint {name!r}: the gripper hull supports slide joints")
            joint_of[int(model.jnt_bodyid[j])] = j
        corners, axes, qadr, frames = [], [], [], []
        for g in range(model.ngeom):
            if not (model.geom_contype[g] or model.geom_conaffinity[g]):
                continue
            chain, b = [], int(model.geom_bodyid[g])
            while b not in (root, 0):
                chain.append(b)
                b = int(model.body_parentid[b])
            if b != root:
                continue  # not carried by this gripper
            rot = data.geom_xmat[g].reshape(3, 3)
            world = data.geom_xpos[g] + _points(model, g) @ rot.T
            corners.append((world - site_pos) @ site_rot)
            frames.append(rot.T @ site_rot)  # rows: the geom's axes in the site frame
            moved = [joint_of[c] for c in chain if c in joint_of]
            if len(moved) > 1:
                raise ValueError(f"geom {model.geom(g).name!r} moves with more than one finger joint")
            if moved:
                j = moved[0]
                body_rot = data.xmat[model.jnt_bodyid[j]].reshape(3, 3)
                axis = site_rot.T @ body_rot @ model.jnt_axis[j]
                axes.append(np.tile(axis, (len(world), 1)))
                qadr.append(np.full(len(world), model.jnt_qposadr[j]))
            else:
                axes.append(np.zeros((len(world), 3)))
                qadr.append(np.full(len(world), -1))
        if not corners:
            raise ValueError(f"site {site!r} carries no collision geometry")
        #: Where each geom's corners begin in :attr:`corners` (:meth:`clearance`), and each geom's axes ``(G, 3, 3)``
        #: (rows) in the site frame: its faces' normals where it is a box.
        self.starts, self.frames = np.cumsum([0] + [len(c) for c in corners[:-1]]), np.stack(frames)
        #: Corners at qpos0 ``(C, 3)`` in the site frame; each moves along ``axes (C, 3)`` by the position of the
        #: finger joint at qpos address ``qadr (C,)`` (−1: a fixed corner) less its ``qpos0``.
        self.corners, self.axes = np.concatenate(corners), np.concatenate(axes)
        self.qadr = np.concatenate(qadr)
        self.qpos0 = np.where(self.qadr >= 0, model.qpos0[np.maximum(self.qadr, 0)], 0.0)
        low, high = np.minimum.reduceat(self.corners, self.starts), np.maximum.reduceat(self.corners, self.starts)
        #: Each geom's bounding box at qpos0 ``(G, 3)`` (site frame), the finger joint that moves it (qpos address,
        #: −1: fixed), that joint's qpos0 and the geom's axis of motion ``(G, 3)`` (:meth:`clearance`). A geom's
        #: corners all move by one shift, so its box does too; the box of the shifted corners is this box shifted
        #: exactly, rounding included (a float sum is monotone in each term).
        self.box_low, self.box_high = low, high
        self.geom_qadr, self.geom_qpos0 = self.qadr[self.starts], self.qpos0[self.starts]
        self.geom_axes = self.axes[self.starts]
        #: The farthest any point of a geom's bounding box (:meth:`clearance`) lies from the site (m) with the
        #: fingers at qpos0; a finger moved by ``s`` along its unit axis adds at most ``|s|``.
        self.reach = float(np.linalg.norm(np.maximum(np.abs(low), np.abs(high)), axis=-1).max())
        fingers_ = self.qadr >= 0
        if fingers_.any():
            #: The fingers' closing axis in the site frame, two axes across it, and the span of the fingers'
            #: geometry along those ``(2, 2)`` (low, high): what lies between the fingers (:meth:`between`).
            self.closing = self.axes[fingers_][0] / np.linalg.norm(self.axes[fingers_][0])
            across = np.linalg.svd(self.closing[None])[2][1:]  # (2, 3) orthonormal, ⊥ closing
            span = self.corners[fingers_] @ across.T
            self.across, self.span = across, np.stack([span.min(0), span.max(0)], -1)

    def clearance(self, centre: np.ndarray, rot: np.ndarray, half: float, qpos: np.ndarray) -> np.ndarray:
        """How far (m) a cube of half-size ``half`` centred at ``centre (N, 3)`` with rotation ``rot (N, 3, 3)`` (both
        in the site frame) is from the nearest geom's bounding box in the site frame, the fingers at the joints of
        ``qpos (N, ≥ nq)``: ``(N,)``, along the line from the box's nearest point to the cube's centre (a lower
        bound; 0 or less: touching)."""
        q = self.geom_qadr
        shift = np.where(q >= 0, qpos[:, np.maximum(q, 0)] - self.geom_qpos0, 0.0)[..., None] * self.geom_axes
        low, high = self.box_low + shift, self.box_high + shift  # (N, G, 3)
        gap = centre[:, None] - np.clip(centre[:, None], low, high)  # (N, G, 3)
        dist = np.linalg.norm(gap, axis=-1)
        normal = gap / np.maximum(dist, 1e-12)[..., None]
        support = half * np.abs(np.einsum("nji,ngj->ngi", rot, normal)).sum(-1)
        return np.where(dist > 0.0, dist - support, -half).min(-1)

    def lowest(self, tcp: np.ndarray, qpos: np.ndarray) -> np.ndarray:
        """World height (m) of the lowest corner ``(N,)`` for site poses ``tcp (N, 4, 4)`` and robot joint
        positions ``qpos (N, ≥ nq)`` (the fingers' are read)."""
        return tcp[:, 2, 3] + (self._at(qpos) @ tcp[:, 2, :3, None])[..., 0].min(-1)

    def _at(self, qpos: np.ndarray) -> np.ndarray:
        """The corners ``(N, C, 3)`` (site frame) with the fingers at the joints of ``qpos (N, ≥ nq)``."""
        shift = np.where(self.qadr >= 0, qpos[:, np.maximum(self.qadr, 0)] - self.qpos0, 0.0)  # (N, C)
        return self.corners + shift[..., None] * self.axes

    def between(self, point: np.ndarray, opening: np.ndarray, margin: float) -> np.ndarray:
        """Whether a body of half-size ``margin`` (m) centred at ``point (N, 3)`` (site frame) lies between fingers
        ``opening (N,)`` (m) apart: within the opening along the closing axis, and within ``margin`` of the
        fingers' geometry across it (``(N,)`` bool). Fingers closing on such a body stop at it."""
        inside = np.abs(point @ self.closing) < opening / 2
        across = point @ self.across.T
        return inside & ((across > self.span[:, 0] - margin) & (across < self.span[:, 1] + margin)).all(-1)


def rest_on_table(
    hull: GripperHull, chain: ArmChain, qpos: np.ndarray, tcp: np.ndarray, floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where an arm whose gripper would end below ``floor`` (m, world height) stops instead: its TCP raised
    straight up until the hull's lowest point is at ``floor``, the arm's joints moved there by the controller's
    IK step (:meth:`ArmChain.solve`) from ``qpos (N, nq)``; ``tcp (N, 4, 4)``: the arm's TCP at ``qpos``.
    Returns (the rows that touched ``(n,)``, their joints ``(n, k)``, their TCP poses ``(n, 4, 4)``)."""
    deficit = floor - hull.lowest(tcp, qpos)
    rows = np.flatnonzero(deficit > 0.0)
    if not len(rows):
        return rows, np.empty((0, len(chain.qadr))), np.empty((0, 4, 4))
    target = tcp[rows].copy()
    target[:, 2, 3] += deficit[rows]
    q, pose = chain.solve(qpos[rows], target)
    return rows, q, pose
