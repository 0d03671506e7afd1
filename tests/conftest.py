"""Test setup: headless MuJoCo rendering (EGL, falling back to OSMesa) before mujoco is imported."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
