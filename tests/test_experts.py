"""Scripted experts succeed on every embodiment (short seeded check); stop-and-go pauses them.

Every registered policy kind is checked in tests/test_policies.py.

The full 100-episode measurement is benchmarks/experts.py (results in benchmarks/results/experts.csv).
"""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

import cosmos3_gym
from cosmos3_gym.registration import robot_name
from cosmos3_gym.sim.experts import make_expert
from cosmos3_gym.sim.policies import make_policy

EMBODIMENTS = cosmos3_gym.list_embodiments()


def _episode(env: gym.Env, seed: int) -> tuple[bool, list[np.ndarray]]:
    """Run the expert to the time limit; (success at the final step, actions)."""
    policy = make_expert(env.unwrapped)
    obs, _ = env.reset(seed=seed)
    policy.reset(obs)
    actions, done, info = [], False, {}
    while not done:
        actions.append(policy(obs))
        obs, _, terminated, truncated, info = env.step(actions[-1])
        done = terminated or truncated
    return bool(info["is_success"]), actions


@pytest.mark.parametrize("embodiment", EMBODIMENTS)
@pytest.mark.parametrize(("task", "seeds"), [("reach", (0, 1, 2)), ("lift", (0, 1))])
def test_expert_succeeds(embodiment, task, seeds):
    env = gym.make(f"Cosmos3-{robot_name(embodiment)}-{task.capitalize()}-MuJoCo-v0")
    for seed in seeds:
        ok, actions = _episode(env, seed)
        assert ok, f"{embodiment} {task} expert failed on seed {seed}"
        acts = np.stack(actions)
        # Task arm only: every further arm (AgiBot's left) holds still with its gripper open.
        for arm in range(1, acts.shape[1] // 7):
            assert np.all(acts[:, 7 * arm : 7 * arm + 6] == 0.0) and np.all(acts[:, 7 * arm + 6] == 1.0)
        if task == "lift":
            assert acts[:, 6].min() == -1.0, "the lift expert never closed the gripper"
    env.close()


def test_expert_is_deterministic():
    env = gym.make("Cosmos3-Franka-Push-MuJoCo-v0")
    first = _episode(env, 3)[1][:40]
    second = _episode(env, 3)[1][:40]
    np.testing.assert_array_equal(np.stack(first), np.stack(second))
    env.close()


def test_bad_kind_and_task_are_rejected():
    env = gym.make("Cosmos3-Franka-Reach-MuJoCo-v0")
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("scripted", env.unwrapped, seed=0)
    with pytest.raises(ValueError, match="no expert for task 'stack'"):
        make_expert(SimpleNamespace(task=SimpleNamespace(name="stack")))
    env.close()


def test_stop_and_go_pauses_the_motion_and_keeps_the_expert_gripper():
    env = gym.make("Cosmos3-Franka-Lift-MuJoCo-v0")
    policy, ref = make_policy("stop-and-go", env.unwrapped, seed=0), make_expert(env.unwrapped)
    obs, _ = env.reset(seed=0)
    policy.reset(obs)
    ref.reset(obs)
    seen = set()
    for _ in range(env.unwrapped.task.max_episode_steps):
        action, expert = policy(obs), ref(obs)  # same observations: the two experts stay in the same phase
        seen.add(policy.mode)
        assert action[6] == expert[6]
        if policy.mode == "go":
            np.testing.assert_array_equal(action, expert)
        elif policy.mode == "hold":
            assert not action[:6].any()
        else:
            assert 0 < np.abs(action[:6]).max() < 0.3
        obs, *_ = env.step(action)
    assert seen == {"go", "hold", "jitter"}
    env.close()
