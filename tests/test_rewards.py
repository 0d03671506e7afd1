"""The staged dense reward: its stages on hand-built states, the experts against random motion on every
embodiment's twin, the same number on both backends, and HER-style batched relabelling."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import cosmos3_gym  # noqa: F401
from cosmos3_gym import list_embodiments, load_embodiment
from cosmos3_gym.registration import robot_name
from cosmos3_gym.sim.policies import make_policy
from cosmos3_gym.tasks import compute_reward, get_task
from cosmos3_gym.tasks.rewards import PUSH_BEHIND_M, PUSH_HEIGHT

CONTACT_TASKS = ("push", "lift")


def _ws(name: str = "franka"):
    return load_embodiment(name).spec.workspace


def _eff(tcp, width) -> np.ndarray:
    return np.array([[*tcp, width]], dtype=np.float64)


def test_lift_stages():
    ws, task = _ws(), get_task("lift")
    half = ws.cube_half_size
    cube = np.array([0.5, 0.0, ws.table_z + half])
    goal = cube + np.array([0.0, 0.0, ws.lift_height])
    r = lambda eff, c=cube: float(compute_reward(c, goal, task, "dense", eff, ws))  # noqa: E731
    far, open_at, closed_at = r(_eff(cube + np.array([0, 0, 0.3]), 0.08)), r(_eff(cube, 0.08)), r(_eff(cube, 2 * half))
    assert 0.0 < far < 0.05 and open_at == pytest.approx(1 / 3)  # at the cube but not grasping: reach only
    assert closed_at > 2 / 3 and closed_at < 1.0  # grasped, not yet lifted
    halfway = cube + np.array([0.0, 0.0, 0.05])
    assert closed_at < r(_eff(halfway, 2 * half), halfway) < 1.0
    assert r(_eff(cube, 0.0)) == pytest.approx(1 / 3)  # fingers shut on nothing: no grasp credit
    assert r(_eff(goal, 2 * half), goal) == 1.0  # success


def test_push_stages():
    ws, task = _ws(), get_task("push")
    half = ws.cube_half_size
    cube = np.array([0.5, 0.0, ws.table_z + half])
    goal = np.array([0.6, 0.0, ws.table_z + half])
    point = np.array([0.5 - half - PUSH_BEHIND_M, 0.0, ws.table_z + PUSH_HEIGHT * half])
    at_point = float(compute_reward(cube, goal, task, "dense", _eff(point, 0.0), ws))
    in_front = float(compute_reward(cube, goal, task, "dense", _eff(point + np.array([0.1, 0, 0]), 0.0), ws))
    place = 1.0 - np.tanh(0.5)
    assert at_point == pytest.approx((1.0 + place) / 2) and in_front < at_point
    moved = cube + np.array([0.05, 0.0, 0.0])
    assert float(compute_reward(moved, goal, task, "dense", _eff(point + np.array([0.05, 0, 0]), 0.0), ws)) > at_point
    assert float(compute_reward(goal, goal, task, "dense", _eff(point, 0.0), ws)) == 1.0


def test_dual_arm_uses_the_arm_nearest_the_cube():
    ws, task = _ws("agibot"), get_task("lift")
    cube = np.array([0.5, 0.0, ws.table_z + ws.cube_half_size])
    goal = cube + np.array([0.0, 0.0, ws.lift_height])
    left_grasps = np.array([[0.5, 0.4, 0.5, 0.08], [*cube, 2 * ws.cube_half_size]])
    assert float(compute_reward(cube, goal, task, "dense", left_grasps, ws)) > 2 / 3


def test_missing_effector_and_bad_type_are_refused():
    ws, task = _ws(), get_task("lift")
    with pytest.raises(ValueError, match="needs the effector"):
        compute_reward(np.zeros(3), np.ones(3), task, "dense")
    with pytest.raises(ValueError, match=r"effector must be \(\.\.\., arms, 4\)"):
        compute_reward(np.zeros((2, 3)), np.ones((2, 3)), task, "dense", np.zeros((3, 1, 4)), ws)
    with pytest.raises(ValueError, match="allowed: dense, sparse"):
        gym.make("Cosmos3-Franka-Lift-MuJoCo-v0", reward_type="shaped")
    # Reach and sparse need no effector and keep Fetch's conventions.
    assert float(compute_reward(np.zeros(3), np.ones(3), get_task("reach"), "dense")) == pytest.approx(-np.sqrt(3))
    assert float(compute_reward(np.zeros(3), np.ones(3), task, "sparse")) == -1.0


def _episode_rewards(env: gym.Env, kind: str, seed: int) -> tuple[np.ndarray, bool]:
    policy = make_policy(kind, env.unwrapped, seed=seed)
    obs, _ = env.reset(seed=seed)
    policy.reset(obs)
    rewards, info = [], {}
    for _ in range(env.spec.max_episode_steps):
        obs, reward, terminated, _, info = env.step(policy(obs))
        relabelled = env.unwrapped.compute_reward(obs["achieved_goal"], obs["desired_goal"], info)
        assert float(relabelled) == reward  # what HER recomputes from the stored info is the reward
        rewards.append(reward)
        if terminated:
            break
    return np.array(rewards), bool(info["is_success"])


@pytest.mark.parametrize("task", CONTACT_TASKS)
@pytest.mark.parametrize("emb", list_embodiments())
def test_expert_earns_more_than_random_motion(emb, task):
    env = gym.make(f"Cosmos3-{robot_name(emb)}-{task.capitalize()}-MuJoCo-v0")
    expert, success = _episode_rewards(env, "expert", 3)
    random, _ = _episode_rewards(env, "random-smooth", 3)
    assert success and expert[-1] == 1.0
    for r in (expert, random):
        assert np.all((r >= 0.0) & (r <= 1.0))
    assert expert.mean() > random.mean() + 0.2
    env.close()


@pytest.mark.parametrize("task", CONTACT_TASKS)
def test_learned_env_rewards_like_the_twin(make, task):
    env = make(f"Cosmos3-Franka-{task.capitalize()}-v0")
    obs, info = env.reset(seed=5)
    assert info["effector"].shape == (1, 4)
    rng = np.random.default_rng(0)
    infos, achieved, desired, rewards = [], [], [], []
    for _ in range(5):
        obs, reward, _, _, info = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        infos.append(info)
        achieved.append(obs["achieved_goal"])
        desired.append(obs["desired_goal"])
        rewards.append(reward)
    twin = gym.make(f"Cosmos3-Franka-{task.capitalize()}-MuJoCo-v0").unwrapped
    batched = twin.compute_reward(np.stack(achieved), np.stack(desired), np.array(infos))
    np.testing.assert_allclose(batched, rewards, rtol=0, atol=1e-12)
    np.testing.assert_allclose(env.unwrapped.compute_reward(np.stack(achieved), np.stack(desired), infos), rewards)
