"""cosmos3-gym: Gymnasium learned simulators in the shape of NVIDIA Cosmos3, with MuJoCo twins as truth."""

from cosmos3_gym.embodiment import Embodiment, EmbodimentConfigError, list_embodiments, load_embodiment

__version__ = "0.1.0"
__all__ = ["Embodiment", "EmbodimentConfigError", "__version__", "list_embodiments", "load_embodiment"]

from cosmos3_gym.registration import register_all as _register_all

_register_all()
