"""The shipped embodiments: where their YAMLs live and their names (cheap: no MuJoCo, no YAML parsing)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def embodiments_dir() -> Path:
    """Folder of the shipped embodiment YAMLs (``embodiments/`` in the repo, inside the wheel too)."""
    return Path(str(resources.files("cosmos3_gym.embodiments")))


def list_embodiments() -> list[str]:
    """Names of the shipped embodiments, sorted: ``["agibot", "franka", "umi", "ur5e", "widowx"]``."""
    return sorted(p.stem for p in embodiments_dir().glob("*.yaml"))
