"""World model: modes, masks, determinism, per-step stepping, checkpoints, the commanded-pose prior, training."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import twin_episodes

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
from cosmos3_gym.sim.state import obs_layout
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
    }


def _sample(model: WorldModel, mode: str, x: dict, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    given = {"forward_dynamics": ("actions", "prior", "residual_scale"), "inverse_dynamics": ("states",)}
    extra = {k: x[k] for k in given.get(mode, ())}
    return model.sample(
        mode, x["history"], x["domain"], x["task"], x["goal"], x["act_mask"], x["state_mask"], **extra, **kw
    )


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "residual_prior"])
def model(request) -> WorldModel:
    torch.manual_seed(0)
    return WorldModel(replace(preset("tiny"), residual_prior=request.param)).eval()


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


@pytest.mark.parametrize("embodiment", list_embodiments())
def test_prior_is_the_contract_decoding_and_tracks_the_twin(embodiment):
    """The prior's TCP is exactly the previous TCP composed with the raw action, and the twin's
    controller reaches it to within its tracking error."""
    emb = load_embodiment(embodiment)
    prior = CommandPrior(emb, obs_layout(emb, emb.kinematics.model))
    (ep,) = twin_episodes(embodiment, "lift", 1, 20)
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
    states = twin_episodes("franka", "lift", 1, 20)[0].states
    raw = twin_episodes("franka", "lift", 1, 20)[0].raw_actions[:16]
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
    episodes = twin_episodes("franka", "lift", 4, 40) + twin_episodes("umi", "push", 4, 40)
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
            plans.append(agent.plan[0])
        raw = plans[-1][t % 4]
        expected = nmap.from_raw(prior.arm_tcp(obs["observation"][None]), raw[None])[0]
        np.testing.assert_allclose(action, expected, rtol=1e-6, atol=1e-6)
        assert action.dtype == np.float32 and env.action_space.contains(action)
        obs, *_ = env.step(action)
    assert len(plans) == 3 and not np.allclose(plans[0], plans[1])  # a new plan from the new history
    with pytest.raises(ValueError, match="replan"):
        PolicyHeadAgent(load_checkpoint(tiny_model), env.emb, "reach", replan=17)
