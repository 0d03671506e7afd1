"""Frozen dataclasses for one embodiment adapter (the parsed form of ``embodiments/<name>.yaml``).

Validation lives in :mod:`cosmos3_gym.embodiment.loader`; these classes only hold checked values.
Units: metres, radians, seconds. Frames: "base" is the robot base = MuJoCo world frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Cosmos3-Nano pads every action row to this many channels (``max_action_dim``).
MAX_ACTION_DIM = 64
#: Channels of one pose block in a raw Cosmos3 action: dpos(3) + rot6d(6).
POSE_BLOCK_DIM = 9
#: Native action channels per controlled arm: dpos(3) + axis-angle(3) + gripper(1).
NATIVE_ARM_DIM = 7


class EmbodimentConfigError(ValueError):
    """An embodiment YAML (or its MJCF) is invalid. The message names file, field, value, allowed."""

    def __init__(self, file: str | Path, field: str, value: object, allowed: str) -> None:
        self.file, self.field, self.value, self.allowed = str(file), field, value, allowed
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{self.file}: field '{field}' = {shown}: {allowed}")


@dataclass(frozen=True)
class EndEffector:
    """A pose frame that contributes one 9-channel block to the raw Cosmos3 action.

    ``to_cosmos3`` = ``[[to_opencv, offset_m], [0, 1]]``, right-multiplied onto the native TCP pose:
    ``T_cosmos3 = T_tcp @ to_cosmos3``. It folds the robot's TCP→flange shift (in TCP axes) and the
    fixed to-OpenCV rotation of the Cosmos3 dataset adapter into one rigid transform.
    """

    name: str
    site: str
    to_opencv: tuple[tuple[float, float, float], ...]
    offset_m: tuple[float, float, float]
    provenance: str

    @property
    def to_cosmos3(self) -> np.ndarray:
        """``(4, 4)`` native-TCP → Cosmos3 EE frame transform."""
        tf = np.eye(4)
        tf[:3, :3] = np.asarray(self.to_opencv)
        tf[:3, 3] = np.asarray(self.offset_m)
        return tf


@dataclass(frozen=True)
class Gripper:
    """A gripper and its Cosmos3 convention.

    Cosmos3 value: ``open_fraction`` (0 closed, 1 open) or ``width_m`` (opening in metres, UMI).
    Opening width (m) = ``width_offset_m + Σ width_scale[i] · qpos[joints[i]]``.
    """

    name: str
    convention: str
    actuator: str
    ctrl_closed: float
    ctrl_open: float
    joints: tuple[str, ...]
    width_scale: tuple[float, ...]
    width_offset_m: float
    max_width_m: float

    def ctrl(self, command: float | np.ndarray) -> float | np.ndarray:
        """The actuator control of native gripper commands in [-1, 1] (-1 closed, 1 open), as the twin's
        controller sets it."""
        return self.ctrl_closed + (command + 1.0) / 2.0 * (self.ctrl_open - self.ctrl_closed)


@dataclass(frozen=True)
class Arm:
    """One agent-controlled arm: the joints IK moves to place ``end_effector``, and its gripper."""

    end_effector: str
    gripper: str
    joints: tuple[str, ...]


@dataclass(frozen=True)
class NativeAction:
    """The agent-facing action: per arm ``[dx, dy, dz, rx, ry, rz, g]`` in ``Box(-1, 1)``.

    Translation ``a[:3] · max_translation_m`` and rotation vector ``a[3:6] · max_rotation_rad`` are
    applied to the TCP in the base frame; ``g`` maps -1 → closed, +1 → open.
    """

    type: str
    frame: str
    max_translation_m: float
    max_rotation_rad: float
    arms: tuple[Arm, ...]

    @property
    def dim(self) -> int:
        return NATIVE_ARM_DIM * len(self.arms)


@dataclass(frozen=True)
class Controller:
    """Damped-least-squares differential IK onto position actuators, ``substeps`` physics steps per
    control step (``timestep = 1 / (fps · substeps)``)."""

    type: str
    substeps: int
    damping: float
    ik_iterations: int
    hold_actuators: tuple[str, ...]


@dataclass(frozen=True)
class QuantileStats:
    """Published per-channel q01/q99 of the Cosmos3 domain, with where they come from."""

    q01: tuple[float, ...]
    q99: tuple[float, ...]
    source: str


@dataclass(frozen=True)
class Cosmos3Domain:
    """The Cosmos3 action-contract settings of this embodiment."""

    domain_name: str
    domain_id: int
    raw_action_dim: int
    fps: int
    chunk_size: int
    layout: tuple[str, ...]
    stats: QuantileStats
    clamp: bool


@dataclass(frozen=True)
class Workspace:
    """Task geometry in the base frame (m): where the cube spawns and where goals are drawn."""

    table_z: float
    cube_half_size: float
    cube_low: tuple[float, float]
    cube_high: tuple[float, float]
    goal_low: tuple[float, float, float]
    goal_high: tuple[float, float, float]
    lift_height: float


@dataclass(frozen=True)
class EmbodimentSpec:
    """Everything one embodiment YAML declares, validated."""

    name: str
    gym_name: str
    description: str
    source_file: Path
    mjcf_path: Path
    cosmos3: Cosmos3Domain
    end_effectors: tuple[EndEffector, ...]
    grippers: tuple[Gripper, ...]
    action: NativeAction
    controller: Controller
    workspace: Workspace
    observation: tuple[str, ...]
