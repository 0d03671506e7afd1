"""cosmos3-gym: Gymnasium learned simulators in the shape of NVIDIA Cosmos3, with MuJoCo twins as truth."""

import os as _os

# MuJoCo picks its OpenGL backend when it is first imported. On a headless machine (no DISPLAY) the
# default GLFW backend cannot render, so off-screen EGL is chosen unless the user set MUJOCO_GL.
if not _os.environ.get("DISPLAY") and not _os.environ.get("WAYLAND_DISPLAY"):
    _os.environ.setdefault("MUJOCO_GL", "egl")

from cosmos3_gym.embodiment import EmbodimentConfigError, list_embodiments
from cosmos3_gym.tokens import Embodiment, load_embodiment

__version__ = "0.1.0"
__all__ = [
    "Embodiment",
    "EmbodimentConfigError",
    "__version__",
    "list_embodiments",
    "load_embodiment",
    "register_embodiment",
    "validate",
]

from cosmos3_gym.registration import register_all as _register_all
from cosmos3_gym.registration import register_embodiment

_register_all()


def __getattr__(name: str):
    # ``cosmos3_gym.validate`` is imported on first use: it pulls in MuJoCo and torch, which a bare
    # ``import cosmos3_gym`` (registration only) does not need.
    if name == "validate":
        from cosmos3_gym.validation.api import validate

        return validate
    raise AttributeError(f"module 'cosmos3_gym' has no attribute {name!r}")
