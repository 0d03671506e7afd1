"""Shared fixtures: headless rendering, and a tiny world model trained in seconds on every embodiment."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym
import pytest

from cosmos3_gym import list_embodiments
from cosmos3_gym.training.episodes import episodes_from_twin
from cosmos3_gym.training.trainer import TrainConfig, train


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A tiny checkpoint covering every embodiment, trained for a few seconds (fidelity is not the point)."""
    episodes = [e for name in list_embodiments() for e in episodes_from_twin(name, "lift", 3, 40)]
    out = tmp_path_factory.mktemp("tiny_model")
    cfg = TrainConfig(size="tiny", steps=40, batch_size=32, val_every=40, warmup=5, policy_batch=0)  # no demos here
    train(episodes, out, cfg, progress=False)
    return str(out)


@pytest.fixture()
def make(tiny_model):
    """``make(env_id, **kw)``: gym.make a learned id on the tiny model."""
    envs = []

    def _make(env_id: str, **kw):
        env = gym.make(env_id, model=tiny_model, **kw)
        envs.append(env)
        return env

    yield _make
    for env in envs:
        env.close()


@pytest.fixture()
def server():
    """A loopback fake of vLLM-Omni's ``/v1/videos`` server (``tests/fake_cosmos3_server.py``), running."""
    from fake_cosmos3_server import FakeCosmos3Server  # imageio; only the backend tests need it

    with FakeCosmos3Server() as srv:
        yield srv
