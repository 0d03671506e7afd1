"""``cosmos3-gym rl``: training in the learned sim end to end, saved agents on both backends, resume, HER
through the SB3 adapter, guards, evaluation against hand-written rollouts."""

from __future__ import annotations

import csv
import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO, SAC

from cosmos3_gym.cli import main
from cosmos3_gym.rl import Evaluator, RLConfig, algo_kwargs
from cosmos3_gym.rl.envs import make_learned_vec, make_train_env

ENV = "Cosmos3-Franka-Reach-v0"


def rl(capsys, tiny_model, out, *extra: str) -> dict:
    argv = [
        "rl",
        "--env",
        ENV,
        "--model",
        tiny_model,
        "--out",
        str(out),
        "--num-envs",
        "2",
        "--eval-episodes",
        "2",
        "--no-progress",
        "--json",
        *extra,
    ]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def play(agent, env, steps: int = 5) -> None:
    obs, _ = env.reset(seed=3)
    for _ in range(steps):
        action, _ = agent.predict(obs, deterministic=True)
        assert action.shape == env.action_space.shape
        obs, reward, *_ = env.step(action)
        assert np.isfinite(reward)
    env.close()


@pytest.mark.parametrize("algo", ["ppo", "sac", "sac-her"])
def test_rl_end_to_end_and_agent_runs_on_both_backends(capsys, tiny_model, tmp_path, algo):
    s = rl(capsys, tiny_model, tmp_path, "--algo", algo, "--steps", "200", "--eval-every", "100")
    assert s["num_timesteps"] >= 200 and s["trained_in"] == "learned" and s["env_steps_per_s"] > 0
    rows = list(csv.DictReader((tmp_path / "eval.csv").open()))
    assert [int(r["timesteps"]) for r in rows][:2] == [100, 200]
    for r in rows:
        assert 0.0 <= float(r["twin_success_rate"]) <= 1.0 and float(r["learned_mean_return"]) < 0
    assert any(p.name.endswith("_steps.zip") for p in (tmp_path / "checkpoints").iterdir())
    agent = (PPO if algo == "ppo" else SAC).load(tmp_path / "final_model.zip", device="cpu")  # no env needed
    play(agent, gym.make(ENV.replace("-v0", "-MuJoCo-v0")))
    play(agent, gym.make(ENV, model=tiny_model))


def test_resume_continues_from_latest_checkpoint(capsys, tiny_model, tmp_path):
    first = rl(capsys, tiny_model, tmp_path, "--algo", "sac", "--steps", "100", "--eval-every", "0")
    second = rl(capsys, tiny_model, tmp_path, "--algo", "sac", "--steps", "160", "--eval-every", "0", "--resume")
    assert first["resumed_from"] is None and second["resumed_from"].endswith("agent_100_steps.zip")
    assert second["num_timesteps"] == 160 and second["new_steps"] == 60
    assert (tmp_path / "checkpoints" / "agent_replay_buffer_160_steps.pkl").is_file()
    before = SAC.load(tmp_path / "checkpoints" / "agent_100_steps.zip").policy.state_dict()
    after = SAC.load(tmp_path / "final_model.zip").policy.state_dict()
    assert any(not np.allclose(before[k].numpy(), after[k].numpy()) for k in before)  # it kept learning
    assert len(list(csv.DictReader((tmp_path / "eval.csv").open()))) == 2
    with pytest.raises(SystemExit, match="algo='sac'"):
        rl(capsys, tiny_model, tmp_path, "--algo", "sac-her", "--steps", "200", "--resume")


@pytest.mark.parametrize("penalty", [0.0, 5.0])
def test_her_relabels_through_the_adapter(tiny_model, tmp_path, penalty):
    cfg = RLConfig(
        env_id=ENV,
        algo="sac-her",
        steps=120,
        num_envs=2,
        model=tiny_model,
        out=str(tmp_path),
        uncertainty_penalty=penalty,
    ).check()
    env, _ = make_train_env(cfg)
    agent = SAC("MultiInputPolicy", env, **algo_kwargs(cfg))
    agent.learn(cfg.steps)
    batch = agent.replay_buffer.sample(128)  # 80 % of these goals are relabelled (n_sampled_goal=4)
    dist = np.linalg.norm(
        batch.next_observations["achieved_goal"].numpy() - batch.observations["desired_goal"].numpy(), axis=-1
    )
    rewards = batch.rewards.numpy()[:, 0]
    if penalty:  # relabelled rewards carry the same uncertainty penalty as the stored ones
        assert np.all(rewards <= -dist + 1e-5) and np.mean(rewards < -dist - 1e-6) > 0.9
    else:
        np.testing.assert_allclose(rewards, -dist, atol=1e-5)
    env.close()


def step_all(venv, n: int, seed: int = 0):
    venv.seed(seed)
    venv.reset()
    out = []
    for _ in range(n):
        out.append(venv.step(np.full((venv.num_envs, 7), 0.5, np.float32)))
    return out


def test_guards_change_behaviour(tiny_model):
    base = {"env_id": ENV, "num_envs": 2, "model": tiny_model}
    plain = step_all(make_learned_vec(RLConfig(**base, uncertainty_samples=2)), 3)
    pen = step_all(make_learned_vec(RLConfig(**base, uncertainty_penalty=5.0)), 3)  # implies 2 samples
    for (_, r0, _, i0), (_, r1, _, _) in zip(plain, pen, strict=True):
        u = np.array([i["model_uncertainty"] for i in i0])
        assert np.all(u > 0)
        np.testing.assert_allclose(r0 - r1, 5.0 * u, rtol=1e-4, atol=1e-6)
    for kw in ({"max_uncertainty": 1e-9}, {"ood_sigma": 1e-6}):
        ((_, _, done, infos),) = step_all(make_learned_vec(RLConfig(**base, **kw)), 1)
        assert done.all() and all(i["TimeLimit.truncated"] for i in infos)
    horizon = step_all(make_learned_vec(RLConfig(**base, imagination_horizon=3)), 3)
    assert [bool(d.any()) for _, _, d, _ in horizon] == [False, False, True]


def test_reanchor_moves_envs_to_twin_states_of_the_policy(tiny_model):
    cfg = RLConfig(env_id=ENV, num_envs=3, model=tiny_model, reanchor_every=6).check()
    venv, anchor = make_train_env(cfg)
    agent = PPO("MultiInputPolicy", venv, n_steps=8, batch_size=24, seed=0)
    anchor.agent = agent
    venv.reset()
    before = anchor.core.state.copy()
    results = [venv.step(np.zeros((3, 7), np.float32)) for _ in range(2)]
    obs, _, done, infos = results[-1]  # 2 steps x 3 envs = 6 env steps: re-anchored now
    assert anchor.count == 1 and done.all() and all(i["TimeLimit.truncated"] for i in infos)
    assert all("terminal_observation" in i for i in infos)
    core = anchor.core
    np.testing.assert_array_equal(obs["observation"], core.state)
    np.testing.assert_array_equal(core.history[:, -1], core.state)
    assert not np.allclose(core.state, before) and np.all((core.elapsed >= 0) & (core.elapsed < 50))
    # Twin steps spent: each env's prefix, plus at most one terminating step per env.
    assert core.elapsed.sum() <= anchor.twin_steps <= core.elapsed.sum() + 3
    venv.step(np.zeros((3, 7), np.float32))  # the model continues from the copied states
    venv.close()


def test_guard_flags_via_cli(capsys, tiny_model, tmp_path):
    s = rl(
        capsys,
        tiny_model,
        tmp_path,
        "--algo",
        "ppo",
        "--steps",
        "120",
        "--eval-every",
        "0",
        "--uncertainty-penalty",
        "2",
        "--max-uncertainty",
        "10",
        "--ood-sigma",
        "50",
        "--imagination-horizon",
        "10",
        "--reanchor-every",
        "40",
    )
    assert s["reanchors"] >= 2 and s["num_timesteps"] >= 120
    assert s["guards"] == {
        "uncertainty_penalty": 2.0,
        "max_uncertainty": 10.0,
        "ood_sigma": 50.0,
        "imagination_horizon": 10,
        "reanchor_every": 40,
    }


class Zero:
    def predict(self, obs, deterministic=True):
        return np.zeros((len(obs["observation"]), 7), np.float32), None


def test_evaluator_matches_hand_rollouts(tiny_model):
    ev = Evaluator("franka", "reach", tiny_model)
    seeds = [10_000, 10_001, 10_002]
    for make_env, result in (
        (lambda: gym.make(ENV.replace("-v0", "-MuJoCo-v0")), ev.twin(Zero(), seeds)),
        (lambda: gym.make(ENV, model=tiny_model, uncertainty_samples=0), ev.learned(Zero(), seeds)),
    ):
        returns = []
        for seed in seeds:
            env = make_env()
            env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                _, r, term, trunc, _info = env.step(np.zeros(7, np.float32))
                total, done = total + r, term or trunc
            returns.append(total)
            env.close()
        assert result.episodes == 3 and result.mean_return == pytest.approx(np.mean(returns), abs=1e-3)
    ev.close()


def test_bad_input_is_refused(capsys, tiny_model, tmp_path):
    with pytest.raises(SystemExit, match="unknown env id"):
        main(["rl", "--env", "Cosmos3-Robot-v0", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="only apply to learned ids"):
        main(["rl", "--env", "Cosmos3-Franka-Reach-MuJoCo-v0", "--ood-sigma", "4", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="imagination_horizon must be >= 1"):
        main(["rl", "--imagination-horizon", "0", "--out", str(tmp_path)])


def test_goal_features_standardize_and_expose_the_goal_error(tiny_model):
    from cosmos3_gym.rl.features import GOAL_ERROR_SCALE, GoalFeatures, goal_features_kwargs

    env = gym.make("Cosmos3-UR5e-Reach-MuJoCo-v0")
    kw = goal_features_kwargs("ur5e", "reach", tiny_model)["features_extractor_kwargs"]
    feats = GoalFeatures(env.observation_space, **kw)
    obs, _ = env.reset(seed=3)
    batch = {k: torch.as_tensor(v, dtype=torch.float32)[None] for k, v in obs.items()}
    out = feats(batch)[0].numpy()
    n = len(obs["observation"])
    assert out.shape == (feats.features_dim,) == (n + 9,)
    expected = (obs["observation"] - np.array(kw["obs_mean"])) / np.array(kw["obs_std"])
    np.testing.assert_allclose(out[:n], np.clip(expected, -10, 10), rtol=1e-4, atol=1e-4)
    err = (obs["desired_goal"] - obs["achieved_goal"]) / GOAL_ERROR_SCALE
    np.testing.assert_allclose(out[-3:], np.clip(err, -10, 10), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="channels"):
        GoalFeatures(env.observation_space, **{**kw, "obs_mean": kw["obs_mean"][:-1]})


def test_sharded_twins_match_one_process():
    """ShardedVecEnv (2 worker processes) steps, resets, ends episodes and answers env_method exactly as a
    DummyVecEnv of the same twins does, in env order."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from cosmos3_gym.rl.envs import _twin_factory
    from cosmos3_gym.rl.shards import ShardedVecEnv

    fns = [_twin_factory("Cosmos3-Franka-Push-MuJoCo-v0") for _ in range(3)]
    ref, sharded = DummyVecEnv(fns), ShardedVecEnv(fns, workers=2)
    try:
        assert sharded.bounds == [(0, 1), (1, 3)]
        for venv in (ref, sharded):
            venv.seed(7)
        for k, v in ref.reset().items():
            np.testing.assert_array_equal(v, sharded.reset()[k] if k == "observation" else v)
        rng = np.random.default_rng(0)
        for _ in range(100):  # to the 100-step time limit: auto-reset and terminal observations
            act = rng.uniform(-1, 1, (3, *ref.action_space.shape)).astype(np.float32)
            for venv in (ref, sharded):
                venv.step_async(act)
            (o1, r1, d1, i1), (o2, r2, d2, i2) = ref.step_wait(), sharded.step_wait()
            for k in o1:
                np.testing.assert_array_equal(o1[k], o2[k])
            np.testing.assert_array_equal(r1, r2)
            np.testing.assert_array_equal(d1, d2)
        assert d1.all() and all("terminal_observation" in i for i in i2)
        assert [i["goal_distance"] for i in i1] == [i["goal_distance"] for i in i2]
        ach, goal = o2["achieved_goal"][0], o2["desired_goal"][0]
        rewards = sharded.env_method("compute_reward", ach, goal, i2[0], indices=[2, 0])
        assert len(rewards) == 2 and sharded.get_attr("reward_type", [1]) == ["dense"]
    finally:
        ref.close()
        sharded.close()


def test_her_relabels_the_staged_lift_reward(tiny_model, tmp_path):
    """HER on Lift: relabelled rewards are the staged reward of the stored TCPs and openings (in [0, 1])."""
    cfg = RLConfig(env_id="Cosmos3-Franka-Lift-v0", algo="sac-her", steps=220, num_envs=2, model=tiny_model)
    env, _ = make_train_env(cfg.check())
    agent = SAC("MultiInputPolicy", env, **algo_kwargs(cfg))
    agent.learn(cfg.steps)
    batch = agent.replay_buffer.sample(64)
    rewards = batch.rewards.numpy()[:, 0]
    assert np.all((rewards >= 0.0) & (rewards <= 1.0)) and rewards.std() > 0
    env.close()


def test_parallel_ppo_recipe_and_time_limit(capsys, tiny_model, tmp_path):
    kw = algo_kwargs(RLConfig(env_id="Cosmos3-Franka-Lift-v0", num_envs=256, steps=10**6, model=tiny_model))
    assert (kw["n_steps"], kw["batch_size"], kw["gamma"], kw["gae_lambda"]) == (50, 400, 0.8, 0.9)
    assert algo_kwargs(RLConfig(env_id=ENV, num_envs=8, model=tiny_model))["gamma"] == 0.95  # few envs: as before
    s = rl(capsys, tiny_model, tmp_path, "--steps", "100000", "--eval-every", "0", "--time-limit", "2")
    assert s["stopped_by_time_limit"] and s["num_timesteps"] < 100_000 and s["train_wall_s"] < 30
    row = list(csv.DictReader((tmp_path / "eval.csv").open()))[-1]
    assert 2.0 <= float(row["train_s"]) <= float(row["wall_s"])
    with pytest.raises(SystemExit, match="time_limit_s must be > 0"):
        rl(capsys, tiny_model, tmp_path / "bad", "--time-limit", "0")


def test_behaviour_cloning_warm_start(capsys, tiny_model, tmp_path):
    """The warm start clones the expert's labels (its error falls well below an untrained actor's) and
    a run with --bc-episodes records it."""
    from cosmos3_gym.rl.warmstart import behaviour_clone, demonstrations

    obs, actions = demonstrations("franka", "lift", 2)
    assert len(actions) == 200 and obs["observation"].shape[0] == 200 and np.abs(actions).max() <= 1.0
    cfg = RLConfig(env_id="Cosmos3-Franka-Lift-v0", num_envs=2, model=tiny_model)
    env, _ = make_train_env(cfg.check())
    agent = PPO("MultiInputPolicy", env, **algo_kwargs(cfg))
    before = float(((agent.predict(obs, deterministic=True)[0] - actions) ** 2).mean())
    after = behaviour_clone(agent, obs, actions, epochs=40)
    assert after < 0.5 * before and float(agent.policy.log_std.exp().mean()) == pytest.approx(np.exp(-1.5))
    env.close()
    s = rl(capsys, tiny_model, tmp_path, "--steps", "64", "--eval-every", "0", "--bc-episodes", "1", "--bc-epochs", "2")
    assert s["bc_episodes"] == 1 and s["bc_mse"] > 0


def test_demonstrations_never_use_evaluation_seeds():
    from cosmos3_gym.rl.warmstart import demonstrations

    with pytest.raises(ValueError, match="no evaluation-split seed"):
        demonstrations("franka", "lift", 1, seed=20)  # 50000 + 200000: the select split's first seed
    with pytest.raises(ValueError, match="at least one episode"):
        demonstrations("franka", "lift", 0)


def test_resume_upgrades_an_older_eval_csv(capsys, tiny_model, tmp_path):
    """A run whose eval.csv predates a column resumes with aligned rows and its old rows kept."""
    rl(capsys, tiny_model, tmp_path, "--algo", "ppo", "--steps", "32", "--eval-every", "0")
    path = tmp_path / "eval.csv"
    rows = list(csv.DictReader(path.open()))
    with path.open("w", newline="") as fh:  # as an older version wrote it: no train_s
        writer = csv.DictWriter(fh, fieldnames=[k for k in rows[0] if k != "train_s"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    rl(capsys, tiny_model, tmp_path, "--algo", "ppo", "--steps", "64", "--eval-every", "0", "--resume")
    new = list(csv.DictReader(path.open()))
    assert [r["timesteps"] for r in new] == [rows[0]["timesteps"], "64"] and new[0]["train_s"] == ""
    assert float(new[1]["train_s"]) > 0 and float(new[1]["twin_success_rate"]) <= 1.0
