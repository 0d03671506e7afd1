"""A learned contact mode: does the cube move in this transition at all?

In MuJoCo a cube resting on the table does not move unless something touches it; the generator moves it
anyway, by millimetres per step even with the gripper centimetres away, and those millimetres flip a
scripted expert's or an agent's phases (``shared/reference/contact_failure_modes.md``, mechanism 2). The
gate is a small classifier per embodiment, fitted on the recorded transitions (label: the cube moved more
than :data:`MOVE_M`), that reads the cube in the nearest arm's TCP frame — the gripper's shape is fixed
there — the arm's commanded motion, its opening, and the cube's own motion and height. Where it says "no
motion" and no arm holds the cube, the cube keeps its pose exactly; elsewhere the generator's prediction
stands. A held cube is the :class:`~cosmos3_gym.model.prior.CommandPrior`'s business.

Contact also bounds where the cube can be: a closed gripper never ends inside it. The generator let a
pusher's TCP end inside the cube (18 mm from its centre, where MuJoCo's pusher keeps 30) and moved the cube
at a third of the pusher's speed; the scripted expert, its pusher past the cube's face, backed off and
re-approached until the episode ended (Franka Push). So after the gate, a
cube that a closed gripper at its height comes nearer than the gate's ``clearance_m`` (the clearance the
recorded transitions keep, :func:`clearance`) is pushed out along the table, as the pusher would push it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.tokens.rotation import rot6d_to_matrix

#: A transition "moves" the cube when its centre moves more than this (m).
MOVE_M = 2e-4
#: Number of gate features (:func:`gate_features`).
GATE_FEATURES = 10
#: Decision threshold on p(move) below which a cube stays, chosen on the select split
#: (``benchmarks/results/contact_gate_select.md``): what ``calibrate-contact`` writes by default.
THRESHOLD = 0.7
#: The quantile of the recorded pusher clearances taken as the least one (:func:`clearance`).
CLEARANCE_QUANTILE = 0.01


def _table_axes(rot: np.ndarray) -> np.ndarray:
    """The two cube axes ``(N, 2)`` nearest the table plane (the third is the one most nearly vertical):
    a tumbled cube rests on any of its faces."""
    up = np.argmax(np.abs(rot[:, 2, :]), axis=-1)
    return np.stack([(up + 1) % 3, (up + 2) % 3], axis=-1)


def pusher_clearance(prior: CommandPrior, state: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every arm of ``state (N, S)``: the distance (m) from its TCP to the cube's box in the table plane
    ``(N, arms)`` (0 inside), the TCP's coordinates from the cube's centre along its two table axes ``(N,
    arms, 2)`` (:func:`_table_axes`), and whether the arm is a pusher there ``(N, arms)`` (:func:`_pushers`)."""
    lay, half = prior.layout, prior.emb.spec.workspace.cube_half_size
    cube = lay.get(state, "cube_pos")
    rot = rot6d_to_matrix(lay.get(state, "cube_rot6d"))
    axes = _table_axes(rot)
    dist, coords = [], []
    for a in range(prior.num_arms):
        tcp = state[..., prior.pos[a]]
        local = np.take_along_axis(np.einsum("nji,nj->ni", rot, tcp - cube), axes, axis=-1)
        dist.append(np.linalg.norm(local - np.clip(local, -half, half), axis=-1))
        coords.append(local)
    return np.stack(dist, -1), np.stack(coords, 1), _pushers(prior, state)


def _pushers(prior: CommandPrior, state: np.ndarray) -> np.ndarray:
    """Which arms of ``state (N, S)`` are pushers ``(N, arms)``: gripper closed to under half the cube's size
    (not around it) and TCP below the cube's top face."""
    lay, half = prior.layout, prior.emb.spec.workspace.cube_half_size
    cube_z = lay.get(state, "cube_pos")[:, 2]
    out = [
        (lay.arm(state, "gripper_width", a)[..., 0] < half) & (state[:, prior.pos[a]][:, 2] - cube_z < half)
        for a in range(prior.num_arms)
    ]
    return np.stack(out, -1)


def push_out(prior: CommandPrior, state: np.ndarray, clearance_m: float) -> np.ndarray:
    """``state (N, S)`` with the cube moved along the table, the least distance, out of reach of every
    pusher arm nearer than ``clearance_m`` to its box (:func:`pusher_clearance`); others unchanged."""
    lay, half = prior.layout, prior.emb.spec.workspace.cube_half_size
    if not _pushers(prior, state).any():  # the cheap test first: most steps have no pusher at the cube
        return state
    dist, local, pusher = pusher_clearance(prior, state)
    hit = pusher & (dist < clearance_m)
    if not hit.any():
        return state
    out = np.array(state, dtype=np.float64, copy=True)
    rot = rot6d_to_matrix(lay.get(state, "cube_rot6d"))
    axes = _table_axes(rot)
    cube = lay.parts["cube_pos"]
    for a in range(prior.num_arms):
        rows = np.flatnonzero(hit[:, a])
        if not len(rows):
            continue
        p, d = local[rows, a], dist[rows, a]
        step = np.zeros_like(p)
        # Outside the box: away from the TCP until the gap is the clearance. Inside: out through the nearer
        # side face, then the clearance.
        out_ = d > 1e-9
        gap = p[out_] - np.clip(p[out_], -half, half)
        step[out_] = -gap / d[out_, None] * (clearance_m - d[out_, None])
        ins = np.flatnonzero(~out_)
        depth = half - np.abs(p[ins])
        k = np.argmin(depth, axis=-1)
        step[ins, k] = -np.sign(p[ins, k]) * (depth[np.arange(len(ins)), k] + clearance_m)
        cols = np.take_along_axis(rot[rows], axes[rows, None, :].repeat(3, axis=1), axis=-1)  # (n, 3, 2)
        world = np.einsum("nij,nj->ni", cols, step)
        world[:, 2] = 0.0  # along the table
        out[rows, cube] = state[rows, cube] + world
    if "cube_rel_pos" in lay.parts:
        out[:, lay.parts["cube_rel_pos"]] = lay.get(out, "cube_pos") - lay.arm(out, "tcp_pos", 0)
    return out


def clearance(prior: CommandPrior, states: np.ndarray) -> float:
    """The least pusher clearance (m) of recorded ``states (N, S)``: the :data:`CLEARANCE_QUANTILE` of
    :func:`pusher_clearance` over the arms and states where an arm is a pusher (0 if none is)."""
    dist, _, pusher = pusher_clearance(prior, states)
    return float(np.quantile(dist[pusher], CLEARANCE_QUANTILE)) if pusher.any() else 0.0


def gate_features(
    prior: CommandPrior, before: np.ndarray, state: np.ndarray, target: np.ndarray, tcp: np.ndarray | None = None
) -> np.ndarray:
    """Features ``(N, GATE_FEATURES)`` of the transition from ``state (N, S)`` under commanded TCP poses
    ``target (N, arms, 4, 4)``; ``before (N, S)``: the state one step earlier (its cube motion); ``tcp``:
    :meth:`CommandPrior.arm_tcp` of ``state`` when the caller has it. All for the arm nearest the cube: the
    cube centre in its TCP frame (dm) and that distance, the commanded TCP translation in its TCP frame
    (cm), its opening over the cube's size, log of the cube's last motion (m), and the cube's height above
    resting on the table (cube half-sizes)."""
    lay, ws = prior.layout, prior.emb.spec.workspace
    tcp = prior.arm_tcp(state) if tcp is None else tcp
    cube = lay.get(state, "cube_pos")
    rel = cube[:, None] - tcp[..., :3, 3]  # (N, arms, 3)
    arm = np.argmin(np.linalg.norm(rel, axis=-1), axis=-1)
    rows = np.arange(len(state))
    rot = tcp[rows, arm, :3, :3]
    local = np.einsum("nji,nj->ni", rot, rel[rows, arm])
    move = np.einsum("nji,nj->ni", rot, target[rows, arm, :3, 3] - tcp[rows, arm, :3, 3])
    width = np.stack([lay.arm(state, "gripper_width", a)[..., 0] for a in range(lay.num_arms)], -1)[rows, arm]
    last = np.linalg.norm(cube - lay.get(before, "cube_pos"), axis=-1)
    height = (cube[:, 2] - ws.table_z - ws.cube_half_size) / ws.cube_half_size
    return np.concatenate(
        [
            local / 0.1,
            np.linalg.norm(local, axis=-1, keepdims=True) / 0.1,
            move / 0.01,
            (width / (2 * ws.cube_half_size))[:, None],
            np.log(last + 1e-4)[:, None],
            height[:, None],
        ],
        axis=-1,
    )


@dataclass(frozen=True)
class ContactGate:
    """A ReLU MLP on standardized features: ``p(move) = σ(MLP((x − mean) / std))``. ``layers``: ``[W, b]``
    pairs as nested lists (JSON-stored in the checkpoint's stats); ``threshold``: the probability above which
    the cube is left to the generator; ``clearance_m``: the least pusher clearance (:func:`push_out`; None:
    none enforced); ``fit``: how it was fitted (data, frames, held-out accuracy)."""

    mean: list[float]
    std: list[float]
    layers: list[list[list]]
    threshold: float = THRESHOLD
    clearance_m: float | None = None
    fit: dict | None = None

    def __post_init__(self) -> None:
        if len(self.mean) != GATE_FEATURES:
            raise ValueError(
                f"the checkpoint's contact gate reads {len(self.mean)} features, this package computes "
                f"{GATE_FEATURES}: fit it again with 'cosmos3-gym calibrate-contact --model CKPT --data DATA'"
            )
        # Tensors once: the gate runs every step. Torch, not NumPy: at 256 envs NumPy's threaded BLAS spun
        # beside the model's torch thread and made the step 2.6x slower (1 ms per call against 0.1 ms).
        tensors = [(torch.tensor(w, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)) for w, b in self.layers]
        object.__setattr__(self, "_tensors", tensors)
        object.__setattr__(self, "_scale", (np.asarray(self.mean), np.asarray(self.std)))

    def probability(self, features: np.ndarray) -> np.ndarray:
        """``p(cube moves)`` per row of ``features (N, GATE_FEATURES)``."""
        mean, std = self._scale  # type: ignore[attr-defined]
        layers = self._tensors  # type: ignore[attr-defined]
        with torch.inference_mode():
            x = torch.from_numpy(((features - mean) / std).astype(np.float32))
            for w, b in layers[:-1]:
                x = torch.relu(x @ w + b)
            w, b = layers[-1]
            return torch.sigmoid(x @ w + b)[:, 0].numpy().astype(np.float64)

    def apply(
        self,
        prior: CommandPrior,
        before: np.ndarray,
        state: np.ndarray,
        target: np.ndarray,
        pred: np.ndarray,
        holding: np.ndarray | None,
        tcp: np.ndarray | None = None,
    ) -> np.ndarray:
        """``pred (N, S)`` (the next state) with the cube's pose kept from ``state`` where the gate says it
        does not move and no arm holds it (``holding (N, arms)``, None: none), then pushed out of every
        pusher's clearance (:func:`push_out`). Other arguments: as in :func:`gate_features`."""
        still = self.probability(gate_features(prior, before, state, target, tcp)) < self.threshold
        if holding is not None:
            still &= ~holding.any(-1)
        out = pred
        if still.any():
            out = np.array(pred, dtype=np.float64, copy=True)
            lay = prior.layout
            for part in ("cube_pos", "cube_rot6d"):
                sl = lay.parts[part]
                out[still, sl] = state[still, sl]
            if "cube_rel_pos" in lay.parts:
                out[:, lay.parts["cube_rel_pos"]] = lay.get(out, "cube_pos") - lay.arm(out, "tcp_pos", 0)
        return out if self.clearance_m is None else push_out(prior, out, self.clearance_m)

    def to_dict(self) -> dict:
        return asdict(self)
