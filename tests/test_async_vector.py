"""gym.make_vec(learned id, vectorization_mode="async") with the fork start method must not hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import gymnasium as gym, numpy as np, torch
import cosmos3_gym
torch.set_num_threads(2)  # the parent runs torch ops with a thread pool before it forks, as a user would
env = gym.make("Cosmos3-Franka-Lift-v0")
env.reset(seed=0)
env.step(env.action_space.sample())
venv = gym.make_vec("Cosmos3-Franka-Lift-v0", num_envs=2, vectorization_mode="async", vector_kwargs={"context": "fork"})
obs, _ = venv.reset(seed=0)
obs, reward, *_ = venv.step(np.zeros(venv.action_space.shape, np.float32))
venv.close()
assert reward.shape == (2,) and np.isfinite(reward).all()
print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork start method is POSIX-only")
def test_async_vector_env_of_a_learned_id_runs_under_fork():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("OMP_NUM_THREADS", None)
    try:  # in a subprocess with a timeout: a hang fails the test instead of stalling CI
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
    except subprocess.TimeoutExpired:
        pytest.fail("gym.make_vec(..., vectorization_mode='async') hung under fork")
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]
