"""The v2 levers: task-blind dynamics, the held-cube prior, starting a training from a checkpoint."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from test_model import B, _inputs, _sample

from cosmos3_gym import list_embodiments, load_embodiment
from cosmos3_gym.model import ForwardStepper, WorldModel, load_checkpoint, preset
from cosmos3_gym.model.config import MODES
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.training.episodes import episodes_from_twin
from cosmos3_gym.training.trainer import TrainConfig, train


def test_task_blind_model_reads_the_task_in_policy_mode_only():
    model = WorldModel(replace(preset("tiny"), residual_prior=True, id_prior=True, task_blind=True)).eval()
    x, other = _inputs(model), _inputs(model)
    other["task"] = (x["task"] + 1) % 3
    for mode in MODES:
        a, s = _sample(model, mode, x)
        a2, s2 = _sample(model, mode, other)
        if mode == "policy":
            assert not torch.equal(a, a2)
        else:
            assert torch.equal(a, a2) and torch.equal(s, s2)
    stepper, rows = ForwardStepper(model, B), []
    for task in (x["task"], other["task"]):
        stepper.begin(torch.arange(B), x["history"], x["domain"], task, x["goal"], x["state_mask"], x["residual_scale"])
        rows.append(stepper.step(x["actions"][:, 0], prior=x["prior"][:, 0]))
    assert torch.equal(rows[0], rows[1])


def test_a_model_without_the_flag_reads_the_task_in_dynamics():
    """The flag is what removes the task: an older checkpoint keeps reading it (and keeps its outputs)."""
    model = WorldModel(replace(preset("tiny"), residual_prior=True)).eval()
    x, other = _inputs(model), _inputs(model)
    other["task"] = (x["task"] + 1) % 3
    assert not torch.equal(_sample(model, "forward_dynamics", x)[1], _sample(model, "forward_dynamics", other)[1])


@pytest.mark.parametrize("embodiment", list_embodiments())
def test_object_prior_carries_a_held_cube_and_leaves_a_free_one(embodiment):
    emb = load_embodiment(embodiment)
    plain, carry = CommandPrior(emb), CommandPrior(emb, object_prior=True)
    eps = episodes_from_twin(embodiment, "lift", 3, 100, policy="expert", seed=700)
    prev, nxt = np.concatenate([e.states[:-1] for e in eps]), np.concatenate([e.states[1:] for e in eps])
    raw = np.concatenate([e.raw_actions for e in eps])
    held = carry.held(prev).any(-1)
    assert held.sum() > 60 and (~held).sum() >= 15  # the expert approaches, then grasps and lifts
    cube = emb.layout.parts["cube_pos"]
    err = np.linalg.norm(carry.commanded(prev, raw)[:, cube] - nxt[:, cube], axis=-1)
    stay = np.linalg.norm(plain.commanded(prev, raw)[:, cube] - nxt[:, cube], axis=-1)
    # Held and moving: the carried cube lands within the controller's tracking error (Franka lags its
    # command by ~3 mm while lifting) of MuJoCo's cube, far closer than "it stays".
    carried = held & (np.linalg.norm(nxt[:, cube] - prev[:, cube], axis=-1) > 2e-3)
    assert carried.sum() >= 8
    assert np.median(err[carried]) < 4e-3 and np.median(err[carried]) < 0.25 * np.median(stay[carried])
    # Not held: exactly the plain prior (the cube stays at its start value).
    np.testing.assert_allclose(carry.commanded(prev, raw)[~held], plain.commanded(prev, raw)[~held], atol=1e-12)


def test_init_from_starts_at_the_checkpoint_with_new_flags(tiny_model, tmp_path):
    episodes = episodes_from_twin("franka", "lift", 2, 20)
    cfg = TrainConfig(size="tiny", steps=1, batch_size=4, val_every=1, warmup=1, policy_batch=0, lr=0.0)
    flags = {"init_from": tiny_model, "task_blind": True, "object_prior": True}
    out = train(episodes, tmp_path / "v2", replace(cfg, **flags), progress=False)
    base, new = load_checkpoint(tiny_model), load_checkpoint(out)
    assert new.model.cfg.task_blind and new.model.cfg.object_prior
    assert new.stats == base.stats  # the base's normalization, not the new data's
    # lr 0: the weights are the base's
    for (name, p), q in zip(base.model.state_dict().items(), new.model.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    # A robot the base never saw (a user's own) gets stats from the data; the base's robots keep theirs.
    franka_only = train(episodes, tmp_path / "franka", replace(cfg, steps=1), progress=False)
    other = episodes_from_twin("umi", "lift", 2, 20)
    both = load_checkpoint(train(other, tmp_path / "x", replace(cfg, init_from=str(franka_only)), progress=False))
    assert set(both.stats) == {"franka", "umi"} and both.stats["franka"] == load_checkpoint(franka_only).stats["franka"]


def _state_with(emb, tcp: np.ndarray, cube: np.ndarray, width: float) -> np.ndarray:
    """A state of ``emb`` (first arm) with the TCP at ``tcp``, the cube at ``cube``, the gripper ``width`` open."""
    lay = emb.layout
    s = np.zeros(lay.size)
    s[lay.parts["tcp_rot6d"]] = np.tile([1, 0, 0, 0, 1, 0], lay.num_arms)
    s[lay.parts["cube_rot6d"]] = [1, 0, 0, 0, 1, 0]
    lay.arm(s, "tcp_pos", 0)[:] = tcp
    lay.arm(s, "gripper_width", 0)[:] = width
    s[lay.parts["cube_pos"]] = cube
    return s


def test_grasp_keeps_a_held_cube_in_the_predicted_grip_and_fingers_out_of_it():
    emb = load_embodiment("franka")
    carry, lay = CommandPrior(emb, object_prior=True), emb.layout
    half = emb.spec.workspace.cube_half_size
    held = _state_with(emb, np.array([0.5, 0.0, 0.1]), np.array([0.5, 0.0, 0.095]), 2 * half)
    pred = _state_with(emb, np.array([0.5, 0.01, 0.12]), np.array([0.5, 0.0, 0.095]), 2 * half - 0.006)
    out = carry.grasp(held, pred)
    np.testing.assert_allclose(out[lay.parts["cube_pos"]], [0.5, 0.01, 0.115], atol=1e-12)  # moved with the grip
    assert lay.arm(out, "gripper_width", 0)[0] == 2 * half  # the fingers stop at the cube
    assert carry.held(out).all() and carry.held(out, carry.held(held)).all()
    # A closed pusher touching the cube neither grasps nor is pushed open; a free cube is left alone.
    pusher = _state_with(emb, np.array([0.5, 0.0, 0.03]), np.array([0.51, 0.0, 0.02]), 0.0)
    np.testing.assert_array_equal(carry.grasp(pusher, pusher), pusher)
    assert not carry.held(pusher).any()
    # A grasp lasts while the model's width drifts a few mm, and ends when the gripper opens.
    drift = _state_with(emb, np.array([0.5, 0.0, 0.1]), np.array([0.5, 0.0, 0.095]), 2 * half + 0.006)
    opened = _state_with(emb, np.array([0.5, 0.0, 0.1]), np.array([0.5, 0.0, 0.095]), 2 * half + 0.02)
    assert not carry.held(drift).any() and carry.held(drift, carry.held(held)).all()
    assert not carry.held(opened, carry.held(held)).any()
    # Without the flag nothing changes.
    np.testing.assert_array_equal(CommandPrior(emb).grasp(held, pred), pred)


def test_a_grasp_forms_only_from_open_fingers():
    """Fingers already about the cube's size cannot come down around it: no grasp forms from them."""
    emb = load_embodiment("franka")
    carry, half = CommandPrior(emb, object_prior=True), emb.spec.workspace.cube_half_size
    cube = np.array([0.5, 0.0, emb.spec.workspace.table_z + half])
    grasp = _state_with(emb, cube + np.array([0.0, 0.0, 0.005]), cube, 2 * half)
    opened = _state_with(emb, cube + np.array([0.0, 0.0, 0.005]), cube, 2 * half + 0.03)
    narrow_above = _state_with(emb, cube + np.array([0.0, 0.0, 0.1]), cube, 2 * half - 0.002)
    closing = carry.since_open(grasp, carry.since_open(opened))  # open around the cube, then closed on it
    assert closing.tolist() == [1] and carry.held(grasp, None, closing).all()
    ago = carry.since_open(narrow_above)
    for _ in range(3):  # came down already narrow
        ago = carry.since_open(narrow_above, ago)
    assert not carry.held(grasp, None, carry.since_open(grasp, ago)).any()
    assert carry.held(grasp).all()  # no memory (a start state): judged from the state alone
    assert carry.held(grasp, carry.held(grasp), carry.since_open(grasp, ago)).all()  # a grasp once formed lasts


@pytest.mark.parametrize("embodiment", list_embodiments())
def test_an_unheld_cube_falls_to_the_table_and_a_held_one_does_not(embodiment):
    emb = load_embodiment(embodiment)
    carry, ws = CommandPrior(emb, object_prior=True), emb.spec.workspace
    rest = ws.table_z + ws.cube_half_size
    tcp = np.array([0.45, 0.0, 0.3])
    cube = np.array([0.45, 0.0, rest + 0.1])
    state = _state_with(emb, tcp, cube, 0.0)
    free = np.zeros((1, emb.layout.num_arms), dtype=bool)
    z = emb.layout.parts["cube_pos"].start + 2
    before, path = state[None], [state[None]]
    for _ in range(40):
        nxt = carry.fall(before, path[-1], path[-1], free)
        before = path[-1]
        path.append(nxt)
    heights = np.array([p[0, z] for p in path])
    assert np.all(np.diff(heights) <= 0) and heights[-1] == pytest.approx(rest)
    # Free fall: 10 cm take sqrt(2 h / g) = 0.14 s, to within a control step.
    k = int(np.argmax(heights <= rest + 1e-9))
    assert abs(k / emb.fps - np.sqrt(2 * 0.1 / 9.81)) <= 1 / emb.fps
    holding = np.ones_like(free)
    np.testing.assert_array_equal(carry.fall(state[None], state[None], state[None], holding), state[None])
    on_table = _state_with(emb, tcp, np.array([0.45, 0.0, rest]), 0.0)[None]
    np.testing.assert_array_equal(carry.fall(on_table, on_table, on_table, free), on_table)
    # Without the flag nothing changes.
    np.testing.assert_array_equal(CommandPrior(emb).fall(state[None], state[None], state[None], free), state[None])


@pytest.mark.parametrize("embodiment", list_embodiments())
def test_nothing_goes_through_the_table_and_the_floor_never_forbids_what_mujoco_does(embodiment):
    from cosmos3_gym.model.prior import CUBE_SINK, TCP_FLOOR_M
    from cosmos3_gym.sim.twin_env import MujocoTwinEnv

    emb = load_embodiment(embodiment)
    prior, lay, ws = CommandPrior(emb, object_prior=True), emb.layout, emb.spec.workspace
    half = ws.cube_half_size
    below = _state_with(emb, np.array([0.5, 0.0, ws.table_z - 0.03]), np.array([0.55, 0.0, ws.table_z]), 0.0)
    out = prior.floor(below[None])[0]
    assert lay.arm(out, "tcp_pos", 0)[2] == pytest.approx(ws.table_z + TCP_FLOOR_M)
    assert out[lay.parts["cube_pos"]][2] == pytest.approx(ws.table_z + (1 - CUBE_SINK) * half)
    np.testing.assert_allclose(lay.get(out, "cube_rel_pos"), lay.get(out, "cube_pos") - lay.arm(out, "tcp_pos", 0))
    above = _state_with(emb, np.array([0.5, 0.0, ws.table_z + 0.1]), np.array([0.55, 0.0, ws.table_z + half]), 0.0)
    for arm in range(1, lay.num_arms):  # the other arms too
        lay.arm(above, "tcp_pos", arm)[2] = ws.table_z + 0.1
    np.testing.assert_array_equal(prior.floor(above[None]), above[None])
    np.testing.assert_array_equal(CommandPrior(emb).floor(below[None]), below[None])  # off without the flag
    # The twin pressing down at random tilts stays above both floors (benchmarks/table_floor.py measures more).
    env, rng = MujocoTwinEnv(emb, "lift"), np.random.default_rng(0)
    obs, _ = env.reset(seed=60_000)
    for _ in range(40):
        a = rng.uniform(-1, 1, env.action_space.shape)
        a[2::7] = -1.0
        obs, _, terminated, _, _ = env.step(a)
        np.testing.assert_array_equal(prior.floor(obs["observation"][None])[0], obs["observation"])
        if terminated:
            break
