"""The world model: a plain ``torch.nn.Module`` in Cosmos3's shape (never imports gymnasium)."""

from cosmos3_gym.model.checkpoint import (
    Checkpoint,
    CheckpointError,
    StateStats,
    checkpoint_digest,
    get_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from cosmos3_gym.model.config import MODES, PRESETS, WorldModelConfig, preset
from cosmos3_gym.model.device import DeviceError, check_device
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.model.space import ModelSpace
from cosmos3_gym.model.stepper import ForwardStepper
from cosmos3_gym.model.world_model import WorldModel

__all__ = [
    "MODES",
    "PRESETS",
    "Checkpoint",
    "CheckpointError",
    "CommandPrior",
    "DeviceError",
    "ForwardStepper",
    "ModelSpace",
    "StateStats",
    "WorldModel",
    "WorldModelConfig",
    "check_device",
    "checkpoint_digest",
    "get_checkpoint",
    "load_checkpoint",
    "preset",
    "save_checkpoint",
]
