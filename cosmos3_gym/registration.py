"""Gymnasium registration (the public face of :mod:`cosmos3_gym.envs.registry`): one id per embodiment ×
task × backend, discovered from the YAMLs, and :func:`register_embodiment` for a robot YAML from any folder."""

from __future__ import annotations

from cosmos3_gym.envs.ids import env_id, learned_ids, resolve_env, robot_name, twin_ids
from cosmos3_gym.envs.registry import register_all, register_embodiment

__all__ = ["env_id", "learned_ids", "register_all", "register_embodiment", "resolve_env", "robot_name", "twin_ids"]
