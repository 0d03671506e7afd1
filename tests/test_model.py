"""World model: modes, masks, determinism, per-step stepping, checkpoints, the commanded-pose prior, training."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from cosmos3_gym import list_embodiments, load_embodiment
from cosmos3_gym.model import (
    MODES,
    CheckpointError,
    CommandPrior,
    ForwardStepper,
    WorldModel,
    load_checkpoint,
    preset,
    save_checkpoint,
)
from cosmos3_gym.model.inference import ModeRunner
from cosmos3_gym.training.episodes import episodes_from_twin
from cosmos3_gym.training.trainer import TrainConfig, train
from cosmos3_gym.training.windows import WindowSampler, compute_stats

B, S_USED, A_USED = 3, 40, 10


def _inputs(model: WorldModel, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random batch in model space; only the first S_USED state / A_USED action channels are real."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    sm = torch.zeros(B, cfg.state_dim)
    sm[:, :S_USED] = 1
    am = torch.zeros(B, cfg.action_dim)
    am[:, :A_USED] = 1
    return {
        "history": torch.randn(B, cfg.history, cfg.state_dim, generator=g) * sm[:, None],
        "domain": torch.tensor([8, 13, 7]),
        "task": torch.tensor([0, 1, 2]),
        "goal": torch.randn(B, 3, generator=g),
        "act_mask": am,
        "state_mask": sm,
        "actions": torch.randn(B, cfg.chunk, cfg.action_dim, generator=g) * am[:, None],
        "states": torch.randn(B, cfg.chunk, cfg.state_dim, generator=g) * sm[:, None],
        "prior": torch.randn(B, cfg.chunk, cfg.state_dim, generator=g) * sm[:, None],
        "residual_scale": torch.rand(B, cfg.state_dim, generator=g) + 0.1,
        "act_prior": torch.randn(B, cfg.chunk, cfg.action_dim, generator=g) * am[:, None],
        "act_scale": torch.rand(B, cfg.action_dim, generator=g) + 0.1,
    }


def _sample(model: WorldModel, mode: str, x: dict, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    given = {
        "forward_dynamics": ("actions", "prior", "residual_scale"),
        "inverse_dynamics": ("states", "act_prior", "act_scale"),
    }
    extra = {k: x[k] for k in given.get(mode, ())}
    return model.sample(
        mode, x["history"], x["domain"], x["task"], x["goal"], x["act_mask"], x["state_mask"], **extra, **kw
    )


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "priors"])
def model(request) -> WorldModel:
    torch.manual_seed(0)
    on = request.param
    return WorldModel(replace(preset("tiny"), residual_prior=on, id_prior=on, goal_relative=on)).eval()


@pytest.mark.parametrize("mode", MODES)
def test_modes_give_shapes_and_keep_padded_channels_zero(model, mode):
    x = _inputs(model)
    a, s = _sample(model, mode, x, steps=2, generator=torch.Generator().manual_seed(1))
    assert a.shape == (B, model.cfg.chunk, model.cfg.action_dim)
    assert s.shape == (B, model.cfg.chunk, model.cfg.state_dim)
    assert torch.isfinite(a).all() and torch.isfinite(s).all()
    assert (a[..., A_USED:] == 0).all() and (s[..., S_USED:] == 0).all()
    if mode == "forward_dynamics":
        assert torch.equal(a, x["actions"])  # given parts pass through unchanged
    if mode == "inverse_dynamics":
        assert torch.equal(s, x["states"])


@pytest.mark.parametrize("mode", MODES)
def test_deterministic_mode_is_deterministic_and_noise_is_seeded(model, mode):
    x = _inputs(model)
    first, second = _sample(model, mode, x), _sample(model, mode, x)
    assert all(torch.equal(p, q) for p, q in zip(first, second, strict=True))
    noisy = [_sample(model, mode, x, generator=torch.Generator().manual_seed(s)) for s in (5, 5, 6)]
    assert torch.equal(noisy[0][0], noisy[1][0]) and torch.equal(noisy[0][1], noisy[1][1])
    generated = 1 if mode == "forward_dynamics" else 0  # the part the mode generates differs by seed
    assert not torch.equal(noisy[0][generated], noisy[2][generated])


def test_stepper_equals_chunk_sampling(model):
    """Stepping one row at a time (the environments' path) gives exactly the chunk forward dynamics."""
    x = _inputs(model)
    _, chunk = _sample(model, "forward_dynamics", x)
    stepper = ForwardStepper(model, B)
    stepper.begin(
        torch.arange(B), x["history"], x["domain"], x["task"], x["goal"], x["state_mask"], x["residual_scale"]
    )
    rows = [stepper.step(x["actions"][:, i], prior=x["prior"][:, i]) for i in range(model.cfg.chunk)]
    torch.testing.assert_close(torch.stack(rows, 1), chunk, atol=1e-5, rtol=1e-5)
    with pytest.raises(RuntimeError, match="begin"):
        stepper.step(x["actions"][:, 0], prior=x["prior"][:, 0])


@pytest.mark.parametrize("flow_steps", [1, 3])
def test_numpy_row_kernel_equals_the_torch_step(model, flow_steps):
    """Small single-domain CPU batches step through the NumPy RowKernel; it must give the torch path's
    rows, with samples at different rows of their chunks and stochastic flow starts, sharing the cache."""
    x = _inputs(model)
    one = {k: torch.full_like(v, 8) if k == "domain" else v for k, v in x.items()}
    g = torch.Generator().manual_seed(3)
    noise = [torch.randn(B, model.cfg.state_dim, generator=g) if i % 2 else None for i in range(20)]
    rng_before = torch.random.get_rng_state()
    outs = []
    for use_kernel in (False, True):
        stepper = ForwardStepper(model, B, flow_steps=flow_steps)
        stepper._use_kernel = use_kernel
        args = (one["history"], one["domain"], one["task"], one["goal"], one["state_mask"], one["residual_scale"])
        stepper.begin(torch.arange(B), *args)
        rows = []
        for i in range(20):
            if i in (4, 16):  # restart sample 1 only: the samples' positions in their chunks now differ
                stepper.begin(torch.tensor([1]), *(a[1:2] for a in args))
            if i == 16:
                stepper.begin(torch.tensor([0, 2]), *(a[[0, 2]] for a in args))
            rows.append(stepper.step(x["actions"][:, i % 16], noise[i], x["prior"][:, i % 16]))
        outs.append(torch.stack(rows, 1))
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # building the kernel draws no random numbers
    torch.testing.assert_close(outs[1], outs[0], atol=1e-5, rtol=1e-5)
    assert (outs[1][..., S_USED:] == 0).all()


def test_residual_model_refuses_forward_dynamics_without_prior():
    model = WorldModel(replace(preset("tiny"), residual_prior=True)).eval()
    x = _inputs(model)
    with pytest.raises(ValueError, match="prior"):
        model.sample("forward_dynamics", x["history"], x["domain"], x["task"], x["goal"], x["act_mask"],
                     x["state_mask"], actions=x["actions"])  # fmt: skip
    stepper = ForwardStepper(model, B)
    stepper.begin(torch.arange(B), x["history"], x["domain"], x["task"], x["goal"], x["state_mask"])
    with pytest.raises(ValueError, match="prior"):
        stepper.step(x["actions"][:, 0])


def test_id_prior_model_adds_the_contract_inverse_and_refuses_without_it():
    model = WorldModel(replace(preset("tiny"), id_prior=True)).eval()
    x = _inputs(model)
    args = (x["history"], x["domain"], x["task"], x["goal"], x["act_mask"], x["state_mask"])
    with pytest.raises(ValueError, match="act_prior"):
        model.sample("inverse_dynamics", *args, states=x["states"])
    a, _ = model.sample(
        "inverse_dynamics", *args, states=x["states"], act_prior=x["act_prior"], act_scale=x["act_scale"]
    )
    plain = WorldModel(replace(preset("tiny"), id_prior=False)).eval()
    plain.load_state_dict(model.state_dict())
    residual, _ = plain.sample("inverse_dynamics", *args, states=x["states"])
    expected = (x["act_prior"] + residual * x["act_scale"][:, None]) * x["act_mask"][:, None]
    torch.testing.assert_close(a, expected)


@pytest.mark.parametrize("embodiment", list_embodiments())
def test_contract_inverse_commands_the_observed_next_pose(embodiment):
    """Decoding the contract inverse from each state lands exactly on the next observed TCP poses;
    its gripper channels are the observed openings in the Cosmos3 convention."""
    emb = load_embodiment(embodiment)
    prior = CommandPrior(emb)
    (ep,) = episodes_from_twin(embodiment, "lift", 1, 20)
    raw = prior.inverse(ep.states[:-1], ep.states[1:])
    assert raw.shape == ep.raw_actions.shape
    cmd = prior.commanded(ep.states[:-1], raw)
    for a in range(prior.num_arms):
        np.testing.assert_allclose(cmd[:, prior.pos[a]], ep.states[1:, prior.pos[a]], atol=1e-9)
        np.testing.assert_allclose(cmd[:, prior.rot[a]], ep.states[1:, prior.rot[a]], atol=1e-9)
        gr, slot = prior.nmap.arm_gripper[a], prior.nmap.gripper_slot[a]
        width = prior.layout.arm(ep.states[1:], "gripper_width", a)[:, 0]
        expected = width if gr.convention == "width_m" else width / gr.max_width_m
        got = emb.gripper_from_actions(raw)
        np.testing.assert_allclose(got if got.ndim == 1 else got[:, slot], expected, atol=1e-12)
    # What the recorded actions commanded differs from what was reached by the tracking error only.
    tcp = prior.pos[0]
    gap = np.linalg.norm(prior.commanded(ep.states[:-1], ep.raw_actions)[:, tcp] - cmd[:, tcp], axis=-1)
    assert np.median(gap) < 2e-3


@pytest.mark.parametrize("embodiment", list_embodiments())
def test_prior_is_the_contract_decoding_and_tracks_the_twin(embodiment):
    """The prior's TCP is exactly the previous TCP composed with the raw action, and the twin's
    controller reaches it to within its tracking error."""
    emb = load_embodiment(embodiment)
    prior = CommandPrior(emb)
    (ep,) = episodes_from_twin(embodiment, "lift", 1, 20)
    cmd = prior.commanded(ep.states[:-1], ep.raw_actions)
    # Re-encoding the commanded poses as actions from the previous poses gives the raw actions back.
    tcp_prev, tcp_cmd = prior.arm_tcp(ep.states[:-1]), prior.arm_tcp(cmd)
    for t in range(len(cmd)):
        back = prior.commanded(ep.states[t : t + 1], ep.raw_actions[t : t + 1])
        np.testing.assert_allclose(back, cmd[t : t + 1], atol=1e-12)
    assert np.linalg.norm(tcp_cmd[..., :3, 3] - tcp_prev[..., :3, 3], axis=-1).max() > 1e-3  # it moved
    reached = np.linalg.norm(cmd[:, prior.pos[0]] - ep.states[1:, prior.pos[0]], axis=-1)
    assert np.median(reached) < 2e-3
    # Only TCP (and the cube-relative position) channels differ from the previous state.
    changed = np.flatnonzero(np.abs(cmd - ep.states[:-1]).max(0) > 0)
    allowed = set(np.r_[tuple(np.arange(s.start, s.stop) for s in (*prior.pos, *prior.rot))])
    if prior.cube_rel is not None:
        allowed |= set(range(prior.cube_rel.start, prior.cube_rel.stop))
    assert set(changed) <= allowed


def test_save_load_gives_identical_outputs_and_corruption_is_refused(tiny_model, tmp_path):
    ckpt = load_checkpoint(tiny_model)
    copy = save_checkpoint(tmp_path / "copy", ckpt.model, ckpt.stats, ckpt.meta)
    again = load_checkpoint(copy)
    states = episodes_from_twin("franka", "lift", 1, 20)[0].states
    raw = episodes_from_twin("franka", "lift", 1, 20)[0].raw_actions[:16]
    outs = [
        ModeRunner(c, "franka").forward_dynamics(states[None, :2], raw[None], np.zeros((1, 3))) for c in (ckpt, again)
    ]
    np.testing.assert_array_equal(outs[0], outs[1])

    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"sha256|corrupt"):
        load_checkpoint(copy)
    weights.write_bytes(bytes(data[:100]))  # truncated
    with pytest.raises(CheckpointError):
        load_checkpoint(copy)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "empty")


def test_checkpoint_from_another_dynamics_is_refused(tiny_model, tmp_path):
    ckpt = load_checkpoint(tiny_model)
    path = save_checkpoint(tmp_path / "ck", ckpt.model, ckpt.stats, ckpt.meta)
    config = json.loads((path / "config.json").read_text())
    config["stats"]["franka"]["dynamics_hash"] = "0" * 16
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="franka"):
        load_checkpoint(path)


def test_training_lowers_the_loss(tmp_path):
    episodes = episodes_from_twin("franka", "lift", 4, 40) + episodes_from_twin("umi", "push", 4, 40)
    stats = compute_stats(episodes)
    sampler = WindowSampler(episodes, stats)
    batch = sampler.batch(64, np.arange(0, len(sampler), max(1, len(sampler) // 64))[:64])
    from cosmos3_gym.training.flow import flow_loss

    def loss_of(path) -> float:
        torch.manual_seed(0)
        return flow_loss(load_checkpoint(path).model.eval(), batch, torch.Generator().manual_seed(0))[0].item()

    # val_every past the last step: only the final checkpoint is written (saving costs ~0.4 s).
    cfg = TrainConfig(size="tiny", steps=1, batch_size=32, val_every=10_000, warmup=1, val_fraction=0.0)
    before = loss_of(train(episodes, tmp_path / "a", cfg, progress=False))
    after = loss_of(train(episodes, tmp_path / "b", replace(cfg, steps=300, warmup=20), progress=False))
    assert after < 0.7 * before, (before, after)


def test_policy_head_agent_replans_and_converts_at_the_current_tcp(tiny_model):
    from cosmos3_gym.model.policy_agent import PolicyHeadAgent
    from cosmos3_gym.sim.twin_env import MujocoTwinEnv
    from cosmos3_gym.tokens.native import NativeActionMap

    env = MujocoTwinEnv("franka", "reach")
    agent = PolicyHeadAgent(load_checkpoint(tiny_model), env.emb, "reach", replan=4)
    nmap, prior = NativeActionMap(env.emb), agent.runner.prior
    obs, _ = env.reset(seed=0)
    agent.reset(obs)
    plans = []
    for t in range(9):
        action = agent(obs)
        if t % 4 == 0:
            plans.append(agent.chunk)
        raw = plans[-1][t % 4]
        expected = nmap.from_raw(prior.arm_tcp(obs["observation"][None]), raw[None])[0]
        np.testing.assert_allclose(action, expected, rtol=1e-6, atol=1e-6)
        assert action.dtype == np.float32 and env.action_space.contains(action)
        obs, *_ = env.step(action)
    assert len(plans) == 3 and not np.allclose(plans[0], plans[1])  # a new plan from the new history
    with pytest.raises(ValueError, match="replan"):
        PolicyHeadAgent(load_checkpoint(tiny_model), env.emb, "reach", replan=17)


@pytest.mark.parametrize("task", ["reach", "push", "lift"])
def test_goal_input_is_the_scaled_error_from_the_task_achieved_goal(task):
    from cosmos3_gym.model.goal import GOAL_SCALE_M, goal_input
    from cosmos3_gym.sim.twin_env import MujocoTwinEnv

    env = MujocoTwinEnv("agibot", task)  # two arms: Reach reads the first arm's TCP
    obs, _ = env.reset(seed=3)
    state, goal = obs["observation"], obs["desired_goal"]
    rel = goal_input(True, env.layout, task, state[None], goal[None])[0]
    np.testing.assert_allclose(rel, (goal - obs["achieved_goal"]) / GOAL_SCALE_M, rtol=1e-5)
    np.testing.assert_allclose(goal_input(False, env.layout, task, state, goal), goal, rtol=1e-6)


def test_windows_carry_the_contract_inverse_and_the_goal_error():
    from cosmos3_gym.model.goal import goal_input
    from cosmos3_gym.training.windows import ACTION_RESIDUAL_STD_FLOOR

    (ep,) = episodes_from_twin("franka", "push", 1, 30)
    stats = compute_stats([ep])
    assert len(stats["franka"].action_residual_std) == ep.raw_actions.shape[1]
    assert min(stats["franka"].action_residual_std) >= ACTION_RESIDUAL_STD_FLOOR
    sampler = WindowSampler([ep], stats)
    b = sampler.batch(2, np.array([0, 5]))
    emb = load_embodiment("franka")
    prior = CommandPrior(emb)
    d = ep.raw_actions.shape[1]
    for row, t in enumerate((0, 5)):
        want = emb.normalize(prior.inverse(ep.states[t : t + 16], ep.states[t + 1 : t + 17]))
        np.testing.assert_allclose(b["act_prior"][row, :, :d].numpy(), want, atol=1e-5)
        assert (b["act_prior"][row, :, d:] == 0).all()
        rel = goal_input(True, prior.layout, "push", ep.states[t], ep.goal)
        np.testing.assert_allclose(b["goal_rel"][row].numpy(), rel, atol=1e-5)


def test_policy_windows_are_expert_windows_balanced_over_groups():
    demo = replace(episodes_from_twin("franka", "reach", 1, 10)[0], expert=True)  # short: 10 windows
    long = episodes_from_twin("franka", "lift", 1, 60)[0]  # 60 non-expert windows
    long_demo = replace(episodes_from_twin("franka", "lift", 1, 60, seed=1)[0], expert=True)
    sampler = WindowSampler([demo, long, long_demo], compute_stats([demo, long, long_demo]))
    b = sampler.batch(4, policy=400)
    assert b["policy"].shape == (404,) and not b["policy"][:4].any() and b["policy"][4:].all()
    assert b["expert"][4:].all()
    reach = (b["task"][4:] == 0).float().mean().item()
    assert 0.4 < reach < 0.6  # 10 Reach windows weigh as much as 60 Lift ones
    with pytest.raises(ValueError, match="expert"):
        WindowSampler([long], compute_stats([long])).batch(4, policy=1)


def test_goal_relative_model_reads_the_goal_in_policy_mode_only():
    """Dynamics must not depend on the task's goal; only the policy acts on it."""
    model = WorldModel(replace(preset("tiny"), residual_prior=True, id_prior=True, goal_relative=True)).eval()
    x, moved = _inputs(model), _inputs(model)
    moved["goal"] = x["goal"] + 1.0
    for mode in MODES:
        a, s = _sample(model, mode, x)
        a2, s2 = _sample(model, mode, moved)
        if mode == "policy":
            assert not torch.equal(a, a2)
        else:
            assert torch.equal(a, a2) and torch.equal(s, s2)
    stepper = ForwardStepper(model, B)
    rows = []
    for goal in (x["goal"], moved["goal"]):
        stepper.begin(torch.arange(B), x["history"], x["domain"], x["task"], goal, x["state_mask"], x["residual_scale"])
        rows.append(stepper.step(x["actions"][:, 0], prior=x["prior"][:, 0]))
    assert torch.equal(rows[0], rows[1])


def test_cli_train_switches_the_shipped_options_off_and_on(tmp_path, capsys):
    from cosmos3_gym.cli import main as cli_main

    data = tmp_path / "data"
    collect = ["collect", "--embodiment", "franka", "--task", "lift", "--episodes", "2", "--policy", "expert"]
    assert cli_main([*collect, "--out", str(data), "--max-steps", "20"]) == 0
    capsys.readouterr()
    base = ["train", "--data", str(data), "--size", "tiny", "--steps", "2", "--batch-size", "8", "--val-every", "2"]
    for flags, expect in (([], True), (["--no-id-prior", "--no-goal-relative"], False)):
        out = tmp_path / f"ckpt_{expect}"
        assert cli_main([*base, *flags, "--out", str(out), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        model = load_checkpoint(out).model.cfg
        assert model.id_prior is model.goal_relative is expect
        assert summary["train_config"]["policy_batch"] == 32  # the default: policy windows from the demos
