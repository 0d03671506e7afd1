"""The public :class:`Embodiment`: a validated YAML spec + its Cosmos3 action contract + MuJoCo model."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path

import mujoco
import numpy as np

from cosmos3_gym.embodiment.catalog import embodiment_files, is_yaml_path, resolve_name
from cosmos3_gym.embodiment.kinematics import Kinematics, compile_model
from cosmos3_gym.embodiment.layout import ObsLayout, obs_layout
from cosmos3_gym.embodiment.loader import load_spec
from cosmos3_gym.embodiment.spec import EmbodimentConfigError, EmbodimentSpec
from cosmos3_gym.tokens.contract import ActionContract


class Embodiment:
    """One robot: Cosmos3 domain facts, pose ⇄ action ⇄ token conversions, MuJoCo model and FK.

    The conversion methods are documented on :class:`~cosmos3_gym.tokens.contract.ActionContract`.
    """

    def __init__(self, spec: EmbodimentSpec) -> None:
        self.spec = spec
        self.contract = ActionContract(spec)
        c = spec.cosmos3
        self.name, self.domain_name, self.domain_id = spec.name, c.domain_name, c.domain_id
        self.raw_action_dim, self.fps, self.chunk_size = c.raw_action_dim, c.fps, c.chunk_size
        self.poses_to_actions = self.contract.poses_to_actions
        self.actions_to_poses = self.contract.actions_to_poses
        self.gripper_from_actions = self.contract.gripper_from_actions
        self.normalize = self.contract.normalize
        self.denormalize = self.contract.denormalize
        self.to_tokens = self.contract.to_tokens
        self.from_tokens = self.contract.from_tokens

    def __repr__(self) -> str:
        return (
            f"Embodiment({self.name!r}, domain={self.domain_name!r}/{self.domain_id}, "
            f"raw_action_dim={self.raw_action_dim}, fps={self.fps}, chunk={self.chunk_size}, "
            f"native_action_dim={self.native_action_dim})"
        )

    @property
    def native_action_dim(self) -> int:
        return self.spec.action.dim

    @property
    def num_poses(self) -> int:
        """Pose blocks in the raw action (1; AgiBot 3: head camera, right wrist, left wrist)."""
        return self.contract.num_poses

    @property
    def dt(self) -> float:
        """Control period in seconds (1 / fps)."""
        return 1.0 / self.fps

    @cached_property
    def yaml_hash(self) -> str:
        """sha256 of the YAML and MJCF bytes: datasets and checkpoints record it."""
        h = hashlib.sha256(self.spec.source_file.read_bytes())
        h.update(self.spec.mjcf_path.read_bytes())
        return h.hexdigest()

    @cached_property
    def dynamics_hash(self) -> str:
        """sha256 of what a world model learns from: the MJCF and the YAML sections that set the action
        contract, controller and observation (not the task workspace boxes). Checkpoints record it."""
        import yaml

        doc = yaml.safe_load(self.spec.source_file.read_text())
        keep = {k: doc[k] for k in ("cosmos3", "end_effectors", "grippers", "action", "controller", "observation")}
        h = hashlib.sha256(json.dumps(keep, sort_keys=True).encode())
        h.update(self.spec.mjcf_path.read_bytes())
        return h.hexdigest()

    def make_model(self) -> mujoco.MjModel:
        """A fresh compiled MuJoCo model (timestep set from fps and controller substeps)."""
        return compile_model(self.spec)

    @cached_property
    def kinematics(self) -> Kinematics:
        return Kinematics(self.spec, self.make_model())

    @cached_property
    def layout(self) -> ObsLayout:
        """Where each part sits in the observation vector (shared by the twin and the learned sim)."""
        return obs_layout(self.spec, self.kinematics.model)

    @property
    def dof(self) -> int:
        """Robot joints in qpos (everything but the cube)."""
        return self.kinematics.robot_nq

    def forward_kinematics(self, robot_qpos: np.ndarray) -> np.ndarray:
        """Joint positions ``(..., dof)`` → native TCP poses ``(..., 4, 4)`` (``(..., P, 4, 4)`` if P > 1)."""
        poses = self.kinematics.forward(robot_qpos)
        return poses[..., 0, :, :] if self.num_poses == 1 else poses


def load_embodiment(name_or_path: str | Path) -> Embodiment:
    """Load a known embodiment by name (``"franka"``; case-insensitive where unambiguous; see
    :func:`~cosmos3_gym.embodiment.catalog.list_embodiments`) or any embodiment YAML by path."""
    if isinstance(name_or_path, Path) or is_yaml_path(name_or_path):
        return Embodiment(load_spec(Path(name_or_path).expanduser()))
    name = resolve_name(name_or_path)
    path = embodiment_files()[name]
    spec = load_spec(path)
    if spec.name != name:  # a search-path file is listed under its file name: the two must agree
        raise EmbodimentConfigError(path, "name", spec.name, f"must be {name!r}, the name it is listed under")
    return Embodiment(spec)
