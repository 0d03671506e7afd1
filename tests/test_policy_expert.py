"""The policy expert and the planner: training the policy mode's own weights leaves forward and inverse
dynamics bit-identical; DART demonstrations carry the clean expert's actions; ``train-policy`` writes a
checkpoint and refuses to overwrite one; the planner executes its best-scored candidate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cosmos3_gym.cli import main
from cosmos3_gym.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from cosmos3_gym.model.inference import ModeRunner
from cosmos3_gym.model.planner import PlannerAgent
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.sim.demos import dart_episode
from cosmos3_gym.sim.experts import make_expert
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tokens.native import NativeActionMap
from cosmos3_gym.training.policy_expert import (
    FOCUS_AFTER,
    FOCUS_BEFORE,
    ONSET_M,
    PolicyTrainConfig,
    contact_focus,
    dart_policy_episodes,
    load_demos,
    save_demos,
    train_policy_expert,
)


def _modes(runner: ModeRunner, env: MujocoTwinEnv) -> tuple[np.ndarray, ...]:
    """Forward dynamics, inverse dynamics and policy outputs of ``runner`` from one reset of ``env``."""
    obs, _ = env.reset(seed=5)
    hist = np.stack([obs["observation"]] * 2)[None]
    goal = obs["desired_goal"][None]
    plan, _ = runner.policy(hist, goal, env.task.name)
    fd = runner.forward_dynamics(hist, plan, goal, env.task.name)
    states = np.concatenate([hist[:, -1:], fd], axis=1)
    return fd, runner.inverse_dynamics(states, goal, env.task.name), plan


def test_contact_focus_weights_the_windows_around_the_cube_first_moving(tiny_model):
    from cosmos3_gym.training.windows import WindowSampler

    episodes = dart_policy_episodes("franka", "push", 2, 20_010) + dart_policy_episodes("franka", "reach", 1, 20_020)
    weights = contact_focus(episodes, 4.0)
    layout = MujocoTwinEnv("franka", "push").layout
    starts = np.cumsum([0] + [len(e.raw_actions) for e in episodes])
    for e, start in zip(episodes, starts, strict=False):
        w = weights[start : start + len(e.raw_actions)]
        focused = np.flatnonzero(w == 4.0)
        assert set(np.unique(w)) <= {1.0, 4.0}
        moved = np.linalg.norm(layout.get(e.states, "cube_pos") - layout.get(e.states[0], "cube_pos"), axis=-1)
        if e.task == "reach":
            assert not len(focused) and np.all(moved <= ONSET_M)
            continue
        onset = int(np.argmax(moved > ONSET_M))
        # one run of windows: from FOCUS_BEFORE steps before the cube first moves to FOCUS_AFTER after
        assert onset > 0 and np.array_equal(focused, np.arange(max(0, onset - FOCUS_BEFORE), onset + FOCUS_AFTER + 1))
    sampler = WindowSampler(episodes, load_checkpoint(tiny_model).stats, 2, 16, seed=0)
    only = np.zeros(len(sampler))
    only[[5, starts[2]]] = 1.0  # one push window, and the reach episode's first
    sampler.weight_policy_windows(only)
    drawn = sampler.batch(0, policy=64)["history"].numpy()
    allowed = sampler.batch(0, index=np.array([5, starts[2]]))["history"].numpy()
    matches = (drawn[:, None] == allowed[None]).all(axis=(2, 3))
    assert matches.any(axis=1).all() and matches.any(axis=0).all()  # only those two, and both groups drawn
    with pytest.raises(ValueError, match="window weights must be"):
        sampler.weight_policy_windows(np.ones(3))
    with pytest.raises(ValueError, match="focus must be >= 1"):
        PolicyTrainConfig(focus=0.5)


def test_policy_expert_training_leaves_the_dynamics_bit_identical(tiny_model, tmp_path):
    env = MujocoTwinEnv("franka", "lift")
    ckpt = load_checkpoint(tiny_model)
    fd0, id0, plan0 = _modes(ModeRunner(ckpt, "franka"), env)
    save_checkpoint(tmp_path / "base", ckpt.model, ckpt.stats)
    episodes = dart_policy_episodes("franka", "lift", 2, seed=20_000)
    train_policy_expert(ckpt, episodes, PolicyTrainConfig(steps=5, batch_size=8, warmup=1))
    assert ckpt.model.cfg.policy_expert
    runner = ModeRunner(ckpt, "franka")
    plan1 = _modes(runner, env)[2]
    # The dynamics read only the shared weights: the same plan gives the same states and actions.
    obs, _ = env.reset(seed=5)
    hist, goal = np.stack([obs["observation"]] * 2)[None], obs["desired_goal"][None]
    np.testing.assert_array_equal(runner.forward_dynamics(hist, plan0, goal, "lift"), fd0)
    np.testing.assert_array_equal(runner.inverse_dynamics(np.concatenate([hist[:, -1:], fd0], 1), goal, "lift"), id0)
    assert not np.allclose(plan1, plan0)  # the policy did move
    save_checkpoint(tmp_path / "pe", ckpt.model, ckpt.stats)
    # The dynamics' weights file, and so the digest that names the model in results, is unchanged.
    assert (tmp_path / "pe" / "model.safetensors").read_bytes() == (
        tmp_path / "base" / "model.safetensors"
    ).read_bytes()
    again = load_checkpoint(tmp_path / "pe")
    assert again.model.cfg.policy_expert
    np.testing.assert_array_equal(_modes(ModeRunner(again, "franka"), env)[2], plan1)
    policy_file = tmp_path / "pe" / "policy.safetensors"
    policy_file.write_bytes(policy_file.read_bytes()[:-8])
    with pytest.raises(CheckpointError, match=r"policy\.safetensors: sha256 .* does not match"):
        load_checkpoint(tmp_path / "pe")
    policy_file.unlink()
    with pytest.raises(CheckpointError, match=r"has a policy expert but there is no policy\.safetensors"):
        load_checkpoint(tmp_path / "pe")


def test_a_policy_expert_refuses_mixed_mode_batches(tiny_model):
    model = load_checkpoint(tiny_model).model
    model.add_policy_expert()
    with pytest.raises(ValueError, match="separate batches"):
        model.context(
            torch.zeros(2, model.cfg.history, model.cfg.state_dim),
            torch.zeros(2, dtype=torch.long),
            torch.zeros(2, dtype=torch.long),
            torch.zeros(2, 3),
            torch.tensor([True, False]),
        )
    with pytest.raises(ValueError, match="already has a policy expert"):
        model.add_policy_expert()


def test_dart_labels_are_the_clean_experts_actions():
    env = MujocoTwinEnv("ur5e", "push")
    obs, labels = dart_episode(env, env, 7, 0.0, np.random.default_rng(0))
    expert = make_expert(env)
    first, _ = env.reset(seed=7)
    expert.reset(first)
    np.testing.assert_array_equal(labels[0], expert(first))
    assert len(obs) == len(labels) + 1 == env.task.max_episode_steps + 1
    noisy_obs, _ = dart_episode(env, env, 7, 0.3, np.random.default_rng(0))
    assert not np.allclose(noisy_obs[-1]["observation"], obs[-1]["observation"])  # the noise moved the arm
    # The episodes' raw actions are the labels in the Cosmos3 contract, at each state's TCP.
    (ep,) = dart_policy_episodes("ur5e", "push", 1, seed=20_000, noises=(0.3,))
    prior, nmap = CommandPrior(env.emb), NativeActionMap(env.emb)
    back = nmap.from_raw(prior.arm_tcp(ep.states[:-1]), ep.raw_actions)
    _, labels = dart_episode(env, env, 20_000, 0.3, np.random.default_rng(20_000))
    np.testing.assert_allclose(back, labels, atol=1e-5)
    with pytest.raises(ValueError, match="training seeds"):
        dart_policy_episodes("ur5e", "push", 2, seed=99_999)


def test_train_policy_cli_writes_a_checkpoint_and_never_overwrites(tiny_model, tmp_path, capsys):
    out = tmp_path / "pe"
    args = ["train-policy", "--model", tiny_model, "--out", str(out), "--embodiments", "widowx", "--tasks", "reach"]
    assert main([*args, "--episodes", "1", "--steps", "2", "--batch-size", "4"]) == 0
    meta = load_checkpoint(out).meta["policy_expert"]
    assert meta["rows"] == [["widowx", "reach"]] and meta["transitions"] > 0
    assert main([*args, "--episodes", "1", "--steps", "2"]) == 2
    assert f"train-policy: error: {out} already holds a checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train-policy", "--model", tiny_model, "--out", str(tmp_path / "x"), "--embodiments", "nope"])
    assert "unknown embodiment 'nope'" in capsys.readouterr().err


def test_planner_executes_its_best_candidate_and_times_its_plans():
    env = MujocoTwinEnv("franka", "reach")
    ckpt = load_checkpoint("default")
    agent = PlannerAgent(ckpt, env.emb, "reach", samples=8, replan=4, seed=0)
    obs, _ = env.reset(seed=11)
    agent.reset(obs)
    action = agent(obs)
    assert len(agent.decision_s) == 1 and action.shape == env.action_space.shape
    # The executed plan scores at least as well as the policy mode's own proposal.
    hist, goal = np.stack(agent.history), obs["desired_goal"]
    proposal, _ = agent.runner.policy(hist[None], goal[None], "reach")
    chosen, offered = agent.returns(hist, goal, np.stack([agent.chunk, proposal[0]]))
    assert chosen >= offered - 1e-9
    for _ in range(3):
        obs, *_ = env.step(agent(obs))
    assert len(agent.decision_s) == 1  # replans every 4 steps
    agent(obs)
    assert len(agent.decision_s) == 2


def _first_planner_chunk(ckpt, env, **options) -> tuple[np.ndarray, PlannerAgent, dict]:
    agent = PlannerAgent(ckpt, env.emb, env.task.name, samples=8, replan=4, seed=0, **options)
    obs, _ = env.reset(seed=11)
    agent.reset(obs)
    agent(obs)
    return agent.chunk, agent, obs


def test_planner_margin_and_guard_keep_the_policy_chunk(tiny_model):
    env = MujocoTwinEnv("franka", "lift")
    ckpt = load_checkpoint(tiny_model)  # a weak policy, which free planning overrules
    searched, agent, obs = _first_planner_chunk(ckpt, env, guard=1.0)  # plain search
    hist, goal = np.stack(agent.history), obs["desired_goal"]
    proposal = agent.runner.policy(hist[None], goal[None], "lift")[0]
    assert not np.allclose(searched, proposal[0])
    # With a margin no candidate can clear, the policy's own chunk is executed.
    np.testing.assert_allclose(_first_planner_chunk(ckpt, env, margin=1e9)[0], proposal[0], rtol=1e-5, atol=1e-6)
    # The guard skips search exactly when the proposal's predicted share of the best return reaches it.
    share = agent.returns(hist, goal, proposal)[0] / agent.discount.sum()
    np.testing.assert_allclose(_first_planner_chunk(ckpt, env, guard=share - 1e-6)[0], proposal[0], atol=1e-6)
    np.testing.assert_array_equal(_first_planner_chunk(ckpt, env, guard=share + 1e-6)[0], searched)
    with pytest.raises(ValueError, match="guard in"):
        PlannerAgent(ckpt, env.emb, "lift", guard=1.5)


def test_demonstrations_cache_round_trips_and_refuses_another_recipe(tmp_path):
    episodes = dart_policy_episodes("widowx", "reach", 2, seed=20_000)
    recipe = {"rows": [["widowx", "reach"]], "episodes": 2, "seed": 20_000}
    save_demos(tmp_path / "demos.npz", episodes, recipe, 1.5)
    back, collect_s = load_demos(tmp_path / "demos.npz", recipe)
    assert collect_s == 1.5
    assert [(e.embodiment, e.task, e.expert) for e in back] == [("widowx", "reach", True)] * 2
    for a, b in zip(episodes, back, strict=True):
        np.testing.assert_array_equal(a.states, b.states)
        np.testing.assert_array_equal(a.raw_actions, b.raw_actions)
        np.testing.assert_array_equal(a.goal, b.goal)
    with pytest.raises(ValueError, match="another recipe"):
        load_demos(tmp_path / "demos.npz", {**recipe, "episodes": 3})


@pytest.mark.parametrize("kind", ["policy-head", "planner"])
def test_model_policies_act_inside_the_learned_simulator_as_on_the_twin(kind, tiny_model, make):
    from cosmos3_gym.sim.policies import make_policy

    env = make("Cosmos3-UMI-Push-v0")
    twin = MujocoTwinEnv("umi", "push")
    options = {"checkpoint": tiny_model} | ({"samples": 4} if kind == "planner" else {})
    for target in (env, twin):
        policy = make_policy(kind, twin, seed=2, **options)
        obs, _ = target.reset(seed=2)
        policy.reset(obs)
        for _ in range(6):
            action = policy(obs)
            assert target.action_space.contains(action)
            obs, *_ = target.step(action)
