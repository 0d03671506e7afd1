"""YAML → :class:`EmbodimentSpec`, strictly validated.

Every problem raises :class:`EmbodimentConfigError` naming the file, the dotted field, the value and
what is allowed: unknown keys, missing keys, wrong types or lengths, non-finite numbers, q99 <= q01,
inconsistent dims, a missing MJCF file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cosmos3_gym.embodiment.spec import (
    MAX_ACTION_DIM,
    POSE_BLOCK_DIM,
    Arm,
    Controller,
    Cosmos3Domain,
    EmbodimentConfigError,
    EmbodimentSpec,
    EndEffector,
    Gripper,
    NativeAction,
    QuantileStats,
    Workspace,
)

SCHEMA_VERSION = 1
GRIPPER_CONVENTIONS = ("open_fraction", "width_m")
OBSERVATION_PARTS = (
    "joint_pos",
    "joint_vel",
    "tcp_pos",
    "tcp_rot6d",
    "gripper_width",
    "cube_pos",
    "cube_rot6d",
    "cube_rel_pos",
)
#: Cosmos3 ``EMBODIMENT_TO_DOMAIN_ID`` for the EE-pose domains we support (contract §1.4).
COSMOS3_DOMAIN_IDS = {
    "umi": 6,
    "bridge_orig_lerobot": 7,
    "droid_lerobot": 8,
    "robomind-franka": 8,
    "robomind-ur": 13,
    "agibotworld": 15,
    "fractal": 20,
}
#: Cosmos3's ``num_embodiment_domains``: domain ids are 0..31 (one projection table each).
NUM_DOMAINS = 32
#: Every id of Cosmos3's ``EMBODIMENT_TO_DOMAIN_ID`` (contract §1.4), EE-pose or not: a new domain must avoid
#: them, or it would share the projection tables of an unrelated robot.
COSMOS3_USED_IDS = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15, 16, 17, 20, 21, 22, 23})


class _Reader:
    """Walks a parsed YAML mapping, remembering the dotted path for error messages."""

    def __init__(self, file: Path, data: Any, path: str = "") -> None:
        self.file, self.data, self.path = file, data, path

    def error(self, value: object, allowed: str, key: str | None = None) -> EmbodimentConfigError:
        field = self.path if key is None else (f"{self.path}.{key}" if self.path else key)
        return EmbodimentConfigError(self.file, field or "<root>", value, allowed)

    def mapping(self, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
        """Assert this node is a mapping with exactly the allowed keys."""
        if not isinstance(self.data, Mapping):
            raise self.error(self.data, "must be a mapping")
        allowed = required + optional
        for key in self.data:
            if key not in allowed:
                raise self.error(key, f"unknown key; allowed keys: {', '.join(allowed)}", key=str(key))
        for key in required:
            if key not in self.data:
                raise self.error(None, f"missing required key '{key}'", key=key)

    def child(self, key: str | int) -> _Reader:
        data = self.data[key] if isinstance(key, int) or key in self.data else None
        sub = f"{self.path}[{key}]" if isinstance(key, int) else (f"{self.path}.{key}" if self.path else key)
        return _Reader(self.file, data, sub)

    def items(self, key: str, min_len: int = 1) -> list[_Reader]:
        node = self.child(key)
        if not isinstance(node.data, list) or len(node.data) < min_len:
            raise node.error(node.data, f"must be a list of at least {min_len} entries")
        return [node.child(i) for i in range(len(node.data))]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default) if isinstance(self.data, Mapping) else default

    def str(self, key: str, choices: tuple[str, ...] | None = None, default: str | None = None) -> str:
        value = self.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.error(value, "must be a non-empty string", key)
        if choices is not None and value not in choices:
            raise self.error(value, f"must be one of: {', '.join(choices)}", key)
        return value

    def int(self, key: str, low: int = 1, high: int | None = None, default: int | None = None) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            bound = f"an integer in [{low}, {high}]" if high is not None else f"an integer >= {low}"
            raise self.error(value, f"must be {bound}", key)
        return value

    def float(self, key: str, low: float | None = None, positive: bool = False, default: float | None = None) -> float:
        value = self.get(key, default)
        return _finite(self, key, value, low, positive)

    def bool(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.error(value, "must be true or false", key)
        return value

    def vector(self, key: str, length: int | None = None) -> tuple[float, ...]:
        value = self.get(key)
        if not isinstance(value, list) or (length is not None and len(value) != length) or not value:
            want = f"a list of exactly {length} numbers" if length is not None else "a non-empty list of numbers"
            raise self.error(value, f"must be {want}", key)
        return tuple(_finite(self, f"{key}[{i}]", v) for i, v in enumerate(value))

    def names(self, key: str, allow_empty: bool = False) -> tuple[str, ...]:
        value = self.get(key, [] if allow_empty else None)
        if (
            not isinstance(value, list)
            or (not value and not allow_empty)
            or not all(isinstance(v, str) and v for v in value)
        ):
            raise self.error(value, "must be a list of non-empty strings", key)
        if len(set(value)) != len(value):
            raise self.error(value, "entries must be unique", key)
        return tuple(value)


def _finite(reader: _Reader, key: str, value: Any, low: float | None = None, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise reader.error(value, "must be a finite number", key)
    if positive and value <= 0:
        raise reader.error(value, "must be > 0", key)
    if low is not None and value < low:
        raise reader.error(value, f"must be >= {low}", key)
    return float(value)


def _rotation(reader: _Reader, key: str) -> tuple[tuple[float, float, float], ...]:
    value = reader.get(key)
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(r, list) and len(r) == 3 for r in value)):
        raise reader.error(value, "must be a 3x3 nested list (rows of a rotation matrix)", key)
    rows = tuple(tuple(_finite(reader, f"{key}[{i}][{j}]", v) for j, v in enumerate(r)) for i, r in enumerate(value))
    import numpy as np  # local: keeps the module import light for the error path

    mat = np.asarray(rows)
    if not (np.allclose(mat @ mat.T, np.eye(3), atol=1e-9) and np.linalg.det(mat) > 0):
        raise reader.error(value, "must be a proper rotation matrix (orthonormal, det +1)", key)
    return rows


def _end_effector(r: _Reader) -> EndEffector:
    r.mapping(("name", "site", "to_opencv", "offset_m", "provenance"))
    return EndEffector(
        r.str("name"), r.str("site"), _rotation(r, "to_opencv"), r.vector("offset_m", 3), r.str("provenance")
    )  # type: ignore[arg-type]


def _gripper(r: _Reader) -> Gripper:
    r.mapping(
        (
            "name",
            "convention",
            "actuator",
            "ctrl_closed",
            "ctrl_open",
            "joints",
            "width_scale",
            "width_offset_m",
            "max_width_m",
        )
    )
    joints = r.names("joints")
    scale = r.vector("width_scale", len(joints))
    ctrl_closed, ctrl_open = r.float("ctrl_closed"), r.float("ctrl_open")
    if ctrl_closed == ctrl_open:
        raise r.error(ctrl_open, "must differ from ctrl_closed", "ctrl_open")
    return Gripper(
        r.str("name"),
        r.str("convention", GRIPPER_CONVENTIONS),
        r.str("actuator"),
        ctrl_closed,
        ctrl_open,
        joints,
        scale,
        r.float("width_offset_m"),
        r.float("max_width_m", positive=True),
    )


def _stats(r: _Reader, raw_dim: int) -> QuantileStats:
    r.mapping(("q01", "q99", "source"))
    q01, q99 = r.vector("q01", raw_dim), r.vector("q99", raw_dim)
    for i, (lo, hi) in enumerate(zip(q01, q99, strict=True)):
        if hi <= lo:
            raise r.error(hi, f"q99 must be > q01 (= {lo}) for the quantile map to be invertible", f"q99[{i}]")
    return QuantileStats(q01, q99, r.str("source"))


def _cosmos3(r: _Reader, ee_names: set[str], gripper_names: set[str]) -> Cosmos3Domain:
    r.mapping(("domain_name", "domain_id", "raw_action_dim", "fps", "chunk_size", "layout", "stats"), ("clamp",))
    name = r.str("domain_name")
    domain_id = r.int("domain_id", low=0, high=NUM_DOMAINS - 1)
    if name in COSMOS3_DOMAIN_IDS and domain_id != COSMOS3_DOMAIN_IDS[name]:
        raise r.error(domain_id, f"Cosmos3 assigns domain '{name}' the id {COSMOS3_DOMAIN_IDS[name]}", "domain_id")
    if name not in COSMOS3_DOMAIN_IDS and domain_id in COSMOS3_USED_IDS:
        free = ", ".join(str(i) for i in range(NUM_DOMAINS) if i not in COSMOS3_USED_IDS)
        raise r.error(
            name,
            f"not a Cosmos3 EE-pose domain ({', '.join(COSMOS3_DOMAIN_IDS)}); a new domain needs an id that "
            f"Cosmos3 does not use (free: {free}), not {domain_id}",
            "domain_name",
        )
    raw_dim = r.int("raw_action_dim", high=MAX_ACTION_DIM)
    layout = r.names("layout")
    for block in layout:
        if block not in ee_names | gripper_names:
            raise r.error(
                block,
                f"layout entries must name an end effector ({sorted(ee_names)}) or a gripper ({sorted(gripper_names)})",
                "layout",
            )
    width = sum(POSE_BLOCK_DIM if b in ee_names else 1 for b in layout)
    if width != raw_dim:
        raise r.error(
            raw_dim, f"must equal the layout width {width} (9 per pose block, 1 per gripper)", "raw_action_dim"
        )
    chunk = r.int("chunk_size", high=256)
    if chunk % 4:
        raise r.error(chunk, "must be a multiple of 4 (the Cosmos3 video VAE's temporal factor)", "chunk_size")
    return Cosmos3Domain(
        name,
        domain_id,
        raw_dim,
        r.int("fps", high=120),
        chunk,
        layout,
        _stats(r.child("stats"), raw_dim),
        r.bool("clamp", False),
    )


def _action(r: _Reader, ee_names: set[str], grippers: dict[str, Gripper]) -> NativeAction:
    r.mapping(("type", "frame", "max_translation_m", "max_rotation_rad", "arms"))
    arms = []
    for a in r.items("arms"):
        a.mapping(("end_effector", "gripper", "joints"))
        arm = Arm(
            a.str("end_effector", tuple(sorted(ee_names))), a.str("gripper", tuple(sorted(grippers))), a.names("joints")
        )
        arms.append(arm)
    return NativeAction(
        r.str("type", ("ee_delta_pose",)),
        r.str("frame", ("base",)),
        r.float("max_translation_m", positive=True),
        r.float("max_rotation_rad", positive=True),
        tuple(arms),
    )


def _controller(r: _Reader) -> Controller:
    r.mapping(("type", "substeps", "damping", "ik_iterations"), ("hold_actuators",))
    return Controller(
        r.str("type", ("dls_ik",)),
        r.int("substeps", high=1000),
        r.float("damping", positive=True),
        r.int("ik_iterations", high=50),
        r.names("hold_actuators", allow_empty=True),
    )


def _workspace(r: _Reader) -> Workspace:
    r.mapping(("table_z", "cube_half_size", "cube_low", "cube_high", "goal_low", "goal_high", "lift_height"))
    ws = Workspace(
        r.float("table_z"),
        r.float("cube_half_size", positive=True),
        r.vector("cube_low", 2),
        r.vector("cube_high", 2),
        r.vector("goal_low", 3),
        r.vector("goal_high", 3),
        r.float("lift_height", positive=True),
    )  # type: ignore[arg-type]
    for lo_key, hi_key, lo, hi in (
        ("cube_low", "cube_high", ws.cube_low, ws.cube_high),
        ("goal_low", "goal_high", ws.goal_low, ws.goal_high),
    ):
        for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
            if b < a:
                raise r.error(b, f"must be >= {lo_key}[{i}] = {a}", f"{hi_key}[{i}]")
    return ws


def _gym_name(r: _Reader) -> str:
    value = r.str("gym_name")
    if not (value[0].isupper() and value.isalnum()):
        raise r.error(
            value, "must be alphanumeric and start with a capital (it forms Cosmos3-<gym_name>-v0)", "gym_name"
        )
    return value


def load_spec(path: str | Path) -> EmbodimentSpec:
    """Parse and validate one embodiment YAML file. Raises :class:`EmbodimentConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise EmbodimentConfigError(path, "<file>", str(path), "must be an existing embodiment YAML file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise EmbodimentConfigError(path, "<file>", str(exc).splitlines()[0], "must be valid YAML") from exc
    r = _Reader(path, data)
    r.mapping(
        (
            "schema_version",
            "name",
            "gym_name",
            "description",
            "mjcf",
            "cosmos3",
            "end_effectors",
            "grippers",
            "action",
            "controller",
            "workspace",
            "observation",
        )
    )
    if r.get("schema_version") != SCHEMA_VERSION:
        raise r.error(r.get("schema_version"), f"must be {SCHEMA_VERSION}", "schema_version")
    end_effectors = tuple(_end_effector(e) for e in r.items("end_effectors"))
    grippers = tuple(_gripper(g) for g in r.items("grippers"))
    ee_names = {e.name for e in end_effectors}
    by_name = {g.name: g for g in grippers}
    if len(ee_names) != len(end_effectors) or len(by_name) != len(grippers):
        raise r.error([e.name for e in end_effectors] + list(by_name), "names must be unique", "end_effectors")
    if ee_names & set(by_name):
        raise r.error(sorted(ee_names & set(by_name)), "end effector and gripper names must differ", "grippers")
    mjcf = path.parent / r.str("mjcf")
    if not mjcf.is_file():
        raise r.error(r.get("mjcf"), f"MJCF file not found at {mjcf} (paths are relative to the YAML)", "mjcf")
    observation = r.names("observation")
    for part in observation:
        if part not in OBSERVATION_PARTS:
            raise r.error(part, f"unknown observation part; allowed: {', '.join(OBSERVATION_PARTS)}", "observation")
    return EmbodimentSpec(
        name=r.str("name"),
        gym_name=_gym_name(r),
        description=r.str("description"),
        source_file=path,
        mjcf_path=mjcf,
        cosmos3=_cosmos3(r.child("cosmos3"), ee_names, set(by_name)),
        end_effectors=end_effectors,
        grippers=grippers,
        action=_action(r.child("action"), ee_names, by_name),
        controller=_controller(r.child("controller")),
        workspace=_workspace(r.child("workspace")),
        observation=observation,
    )
