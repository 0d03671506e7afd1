"""Every learned id (from the registry): API checkers, twin-equal spaces, determinism, vector env, SB3."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import cosmos3_gym  # noqa: F401
from cosmos3_gym.registration import learned_ids

IDS = learned_ids()


def test_every_embodiment_and_task_is_registered():
    for robot in ("Franka", "UR5e", "WidowX", "Agibot", "UMI"):
        for task in ("Reach", "Push", "Lift"):
            assert f"Cosmos3-{robot}-{task}-v0" in IDS
        assert f"Cosmos3-{robot}-v0" in IDS
        assert gym.spec(f"Cosmos3-{robot}-v0").kwargs["task"] == "lift"


@pytest.mark.parametrize("env_id", IDS)
def test_checkers_and_spaces_equal_twin(make, env_id):
    env = make(env_id)
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=True)
    twin = gym.make(env_id.replace("-v0", "-MuJoCo-v0"))
    assert env.observation_space == twin.observation_space
    assert env.action_space == twin.action_space
    assert env.spec.max_episode_steps == twin.spec.max_episode_steps
    twin.close()


@pytest.mark.parametrize("env_id", [i for i in IDS if i.endswith("-Lift-v0")])
def test_reset_matches_twin_and_is_deterministic(make, env_id):
    # With uncertainty samples, so that their seeded noise is covered by the determinism check too.
    env, twin = make(env_id, uncertainty_samples=2), gym.make(env_id.replace("-v0", "-MuJoCo-v0"))
    for seed in (0, 5):
        a, _ = env.reset(seed=seed)
        b, _ = twin.reset(seed=seed)
        np.testing.assert_array_equal(a["observation"], b["observation"])
        np.testing.assert_array_equal(a["desired_goal"], b["desired_goal"])
    twin.close()

    def rollout(seed):
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(0)
        out = [obs["observation"]]
        for _ in range(40):  # crosses a chunk boundary (16 steps)
            obs, _reward, *_, info = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
            out.append(obs["observation"])
            assert np.isfinite(info["model_uncertainty"]) and info["cosmos3_action"].shape[-1] >= 10
        return np.stack(out)

    np.testing.assert_array_equal(rollout(3), rollout(3))


def test_single_and_vector_env_share_the_uncertainty_default(make, tiny_model):
    """Both run the model once per step unless asked for the estimate (then ``model_uncertainty``)."""
    env = make("Cosmos3-Franka-Reach-v0")
    env.reset(seed=0)
    info = env.step(env.action_space.sample())[-1]
    venv = gym.make_vec(
        "Cosmos3-Franka-Reach-v0", num_envs=2, vectorization_mode="vector_entry_point", model=tiny_model
    )
    venv.reset(seed=0)
    vinfo = venv.step(venv.action_space.sample())[-1]
    venv.close()
    assert "model_uncertainty" not in info and "model_uncertainty" not in vinfo
    assert env.unwrapped.core.stepper.batch == 1 and venv.unwrapped.core.stepper.batch == 2


def test_uncertainty_carries_over_chunks_until_the_next_reset(make):
    """Each chunk's copies restart from the deterministic state; what the finished chunks spread is kept (in
    quadrature) until a reset anchors the state again."""
    env = make("Cosmos3-Franka-Lift-v0", uncertainty_samples=2)
    core = env.unwrapped.core
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    unc, spread = [], []
    for _ in range(40):
        info = env.step(rng.uniform(-1, 1, 7).astype(np.float32))[-1]
        unc.append(float(np.ravel(info["model_uncertainty"])[0]))
        spread.append(float(core.spread[0]))
    unc, spread = np.array(unc), np.array(spread)
    np.testing.assert_allclose(unc[:16], spread[:16])  # first chunk: nothing inherited yet
    carried = np.sqrt(spread[15] ** 2 + spread[31] ** 2)  # after two finished chunks
    np.testing.assert_allclose(unc[32:], np.sqrt(carried**2 + spread[32:] ** 2), rtol=1e-9)
    assert (unc[16:] >= unc[15] - 1e-12).all() and spread[16] < unc[16]
    env.reset(seed=1)
    assert core.uncertainty[0] == core.carried_var[0] == 0.0


def test_bad_actions(make):
    env = make("Cosmos3-Franka-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(8))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([0, 0, np.inf, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="backend"):
        gym.make("Cosmos3-Franka-v0", backend="isaac")


def test_backend_mujoco_returns_the_twin():
    from cosmos3_gym.sim.twin_env import MujocoTwinEnv

    env = gym.make("Cosmos3-UR5e-Reach-v0", backend="mujoco")
    assert isinstance(env.unwrapped, MujocoTwinEnv) and env.unwrapped.task.name == "reach"


def test_out_of_range_actions_clip_like_the_twin(make):
    env = make("Cosmos3-Franka-Push-v0")
    env.reset(seed=1)
    big = env.step(np.full(7, 3.0, np.float32))[0]["observation"]
    env.reset(seed=1)
    one = env.step(np.full(7, 1.0, np.float32))[0]["observation"]
    np.testing.assert_array_equal(big, one)


@pytest.mark.parametrize("robot", ["Franka", "Agibot"])
def test_vector_env_matches_single_envs(tiny_model, robot):
    env_id, n = f"Cosmos3-{robot}-Lift-v0", 3
    venv = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", model=tiny_model)
    assert venv.metadata["autoreset_mode"].name == "NEXT_STEP"
    singles = [gym.make(env_id, model=tiny_model, uncertainty_samples=0) for _ in range(n)]
    vobs, _ = venv.reset(seed=10)
    [e.reset(seed=10 + i)[0] for i, e in enumerate(singles)]
    rng = np.random.default_rng(0)
    for _ in range(20):
        acts = rng.uniform(-1, 1, venv.action_space.shape).astype(np.float32)
        vobs, vrew, _vterm, _vtrunc, _ = venv.step(acts)
        for i, e in enumerate(singles):
            o, r, *_ = e.step(acts[i])
            np.testing.assert_allclose(vobs["observation"][i], o["observation"], atol=1e-5)
            assert vrew[i] == pytest.approx(r, abs=1e-5)
    venv.close()


def test_vector_env_time_limit_and_autoreset(tiny_model):
    venv = gym.make_vec(
        "Cosmos3-UMI-Reach-v0",
        num_envs=2,
        vectorization_mode="vector_entry_point",
        model=tiny_model,
        max_episode_steps=5,
    )
    venv.reset(seed=0)
    zeros = np.zeros(venv.action_space.shape, np.float32)
    for _ in range(4):
        _, _, term, trunc, _ = venv.step(zeros)
        assert not trunc.any()
    _, _, term, trunc, _ = venv.step(zeros)
    assert trunc.all() and not term.any()
    _obs, rew, term, trunc, _ = venv.step(zeros)  # NEXT_STEP: the reset step
    assert not trunc.any() and np.all(rew == 0.0)
    venv.close()


def test_sb3_ppo_trains_in_learned_sim():
    """SB3 PPO trained inside the learned simulator (shipped checkpoint, Franka Reach, dense reward
    −goal distance) improves its return there: the deterministic policy's mean return on 16 fixed
    evaluation seeds rises by at least 30 % after 4096 env steps (measured: −18.9 → −8.3 for seed 0;
    PPO seeds 0-11 all end between −7.1 and −10.8, i.e. 43-63 % better; ~6 s on one core)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecMonitor

    from cosmos3_gym.envs.sb3 import LearnedSB3VecEnv
    from cosmos3_gym.rl.features import goal_features_kwargs

    venv = LearnedSB3VecEnv(16, "franka", "reach", model="default")
    eval_env = VecMonitor(LearnedSB3VecEnv(16, "franka", "reach", model="default"))

    def mean_return(agent) -> float:
        eval_env.seed(10_000)  # the same 16 episodes (seeds 10000-10015) before and after training
        returns, lengths = evaluate_policy(
            agent, eval_env, n_eval_episodes=16, deterministic=True, return_episode_rewards=True
        )
        assert lengths == [50] * 16  # one full Reach episode per env
        return float(np.mean(returns))

    policy_kwargs = {"net_arch": [64, 64], **goal_features_kwargs("franka", "reach", "default")}
    agent = PPO(
        "MultiInputPolicy",
        venv,
        n_steps=32,  # 512 transitions per update: 8 updates
        batch_size=256,
        n_epochs=5,
        learning_rate=1e-3,
        gamma=0.95,
        seed=0,
        device="cpu",
        policy_kwargs=policy_kwargs,
    )
    before = mean_return(agent)
    agent.learn(4096)
    after = mean_return(agent)
    assert before < after
    assert after > 0.7 * before, (before, after)  # returns are negative: at least 30 % less summed distance
    venv.close()
    eval_env.close()


def test_chunk_mode_and_render(make):
    env = make("Cosmos3-WidowX-Lift-v0", chunk_actions=True, render_mode="rgb_array", width=96, height=72)
    env.reset(seed=0)
    assert env.action_space.shape == (16, 7)
    obs, _, _, _, info = env.step(np.zeros((16, 7), np.float32))
    assert info["states"].shape == (16, obs["observation"].shape[0])
    frame = env.render()
    assert frame.shape == (72, 96, 3) and frame.std() > 5
