"""Embodiments as data: validated YAML specs, MuJoCo kinematics, the observation layout and the spaces."""

from cosmos3_gym.embodiment.catalog import embodiments_dir, list_embodiments
from cosmos3_gym.embodiment.spec import EmbodimentConfigError, EmbodimentSpec

__all__ = ["EmbodimentConfigError", "EmbodimentSpec", "embodiments_dir", "list_embodiments"]
