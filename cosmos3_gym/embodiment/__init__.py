"""Embodiments: YAML adapters (validated specs), their Cosmos3 action contract and MuJoCo kinematics."""

from cosmos3_gym.embodiment.embodiment import Embodiment, embodiments_dir, list_embodiments, load_embodiment
from cosmos3_gym.embodiment.spec import EmbodimentConfigError, EmbodimentSpec

__all__ = [
    "Embodiment",
    "EmbodimentConfigError",
    "EmbodimentSpec",
    "embodiments_dir",
    "list_embodiments",
    "load_embodiment",
]
