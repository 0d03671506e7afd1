"""The learned contact gate: fitted on collected transitions, it keeps an untouched cube exactly where it is."""

from __future__ import annotations

import json
import shutil

import gymnasium as gym
import numpy as np
import pytest

from cosmos3_gym.cli import main
from cosmos3_gym.data import collect, concat, load_dataset
from cosmos3_gym.model import checkpoint_digest, load_checkpoint
from cosmos3_gym.model.contact_gate import GATE_FEATURES, ContactGate, gate_features, push_out, pusher_clearance
from cosmos3_gym.model.inference import ModeRunner
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.tokens import load_embodiment
from cosmos3_gym.tokens.rotation import matrix_to_rot6d
from cosmos3_gym.training.contact_gate import fit_gate, gate_data


@pytest.fixture(scope="module")
def push_data(tmp_path_factory):
    """Franka Push transitions: noisy-expert pushes and contact-mix probes (cube at rest, pushed, grasped)."""
    root = tmp_path_factory.mktemp("gate_data")
    return [
        collect("franka", "push", 8, "noisy-expert", root / "noisy", seed=0, progress=False),
        collect("franka", "push", 8, "contact-mix", root / "mix", seed=100, progress=False),
    ]


@pytest.fixture(scope="module")
def gate(push_data):
    x, y, episodes = gate_data(concat([load_dataset(p) for p in push_data]), load_embodiment("franka"))
    return fit_gate(x, y, episodes, epochs=20)


def test_gate_learns_when_the_cube_moves(gate):
    fit = gate.fit
    assert 0.05 < fit["moving_fraction"] < 0.95  # both classes are there to learn
    assert fit["held_out_accuracy"] > 0.85 and fit["held_out_recall"] > 0.6
    assert ContactGate(**gate.to_dict()).fit == fit  # JSON round trip


def _far_state(emb):
    """A reset state with the TCP raised 20 cm above its cube (nothing touches it)."""
    env = gym.make("Cosmos3-Franka-Push-MuJoCo-v0")
    obs = env.reset(seed=3)[0]["observation"]
    env.close()
    lay = emb.layout
    state = obs[None].copy()
    state[:, lay.parts["tcp_pos"]] = lay.get(state, "cube_pos") + np.array([0.0, 0.0, 0.2])
    return state


def test_untouched_cube_keeps_its_pose_and_a_held_cube_is_left_alone(gate):
    emb = load_embodiment("franka")
    prior, lay = CommandPrior(emb), emb.layout
    state = _far_state(emb)
    target = prior.arm_tcp(state)
    pred = state.copy()
    pred[:, lay.parts["cube_pos"]] += 0.01  # the generator drifts the cube by a centimetre
    assert gate.probability(gate_features(prior, state, state, target))[0] < 0.5
    kept = gate.apply(prior, state, state, target, pred, None)
    np.testing.assert_array_equal(lay.get(kept, "cube_pos"), lay.get(state, "cube_pos"))
    np.testing.assert_allclose(lay.get(kept, "cube_rel_pos"), lay.get(state, "cube_pos") - lay.get(state, "tcp_pos"))
    held = gate.apply(prior, state, state, target, pred, np.ones((1, 1), bool))
    np.testing.assert_array_equal(held, pred)  # a held cube follows the grasp prior, not the gate


@pytest.mark.parametrize("tumbled", [False, True])
def test_a_closed_gripper_pushes_the_cube_out_along_the_table(tumbled):
    emb = load_embodiment("franka")
    prior, lay, half = CommandPrior(emb), emb.layout, emb.spec.workspace.cube_half_size
    state = _far_state(emb)
    # Upright, or tumbled onto another face (its table axes are then x and z).
    rot = [[1.0, 0, 0], [0, 0, -1], [0, 1, 0]] if tumbled else np.eye(3)
    state[:, lay.parts["cube_rot6d"]] = matrix_to_rot6d(np.array([rot]))
    cube = lay.get(state, "cube_pos")[0]
    state[:, lay.parts["gripper_width"]] = 0.0  # a closed pusher ...
    state[:, lay.parts["tcp_pos"]] = cube + np.array([-half + 0.005, 0.002, 0.0])  # ... 5 mm into the -x face
    out = push_out(prior, state, clearance_m=0.003)
    moved = lay.get(out, "cube_pos")[0] - cube
    np.testing.assert_allclose(moved, [0.005 + 0.003, 0.0, 0.0], atol=1e-12)  # out through -x, then 3 mm
    dist, _, pusher = pusher_clearance(prior, out)
    assert pusher[0, 0] and dist[0, 0] == pytest.approx(0.003)
    np.testing.assert_allclose(lay.get(out, "cube_rel_pos"), lay.get(out, "cube_pos") - lay.get(out, "tcp_pos"))
    state[:, lay.parts["tcp_pos"]] = cube + np.array([-half - 0.001, 0.0, 0.0])  # 1 mm outside: to 3 mm
    np.testing.assert_allclose(lay.get(push_out(prior, state, 0.003), "cube_pos")[0] - cube, [0.002, 0, 0], atol=1e-12)
    state[:, lay.parts["gripper_width"]] = 2 * half + 0.01  # an open gripper around the cube: no pusher
    np.testing.assert_array_equal(push_out(prior, state, 0.003), state)


def test_gate_of_other_features_is_refused():
    with pytest.raises(ValueError, match=f"reads 3 features, this package computes {GATE_FEATURES}.*calibrate-contact"):
        ContactGate([0.0] * 3, [1.0] * 3, [[[[0.0]] * 3, [0.0]]])


def test_calibrate_contact_writes_gates_the_model_applies(tiny_model, push_data, tmp_path):
    ckpt_dir = tmp_path / "ckpt"
    shutil.copytree(tiny_model, ckpt_dir)
    digest = checkpoint_digest(ckpt_dir)
    assert main(["calibrate-contact", "--model", str(ckpt_dir), "--data", *map(str, push_data), "--epochs", "5"]) == 0
    ckpt = load_checkpoint(ckpt_dir)
    assert checkpoint_digest(ckpt_dir) == digest  # weights untouched
    assert ckpt.stats["franka"].contact_gate is not None and ckpt.stats["umi"].contact_gate is None
    assert ckpt.meta["contact_gates"]["franka"]["frames"] > 0
    assert 0.0 < ckpt.stats["franka"].contact_gate["clearance_m"] < 0.02  # pushes keep a gap to the cube

    # Open loop, holding still far above the cube, the gated model never moves it.
    emb = load_embodiment("franka")
    lay, state = emb.layout, _far_state(emb)
    raw = np.repeat(CommandPrior(emb).inverse(state, state)[:, None], 16, axis=1)
    hist, goal = np.repeat(state[:, None], 2, axis=1), np.zeros((1, 3))
    gated = ModeRunner(ckpt, emb).forward_dynamics(hist, raw, goal, "push")
    np.testing.assert_array_equal(lay.get(gated, "cube_pos"), np.broadcast_to(lay.get(state, "cube_pos"), (1, 16, 3)))

    env = gym.make("Cosmos3-Franka-Push-v0", model=str(ckpt_dir))
    env.reset(seed=3)
    core = env.unwrapped.core
    core.state[:] = state
    core.history[:] = state
    core.restart_chunks(np.arange(1))
    env.step(np.zeros(env.action_space.shape, np.float32))
    np.testing.assert_array_equal(lay.get(core.state, "cube_pos"), lay.get(state, "cube_pos"))
    env.close()


def test_calibrate_contact_bad_input_changes_nothing(tiny_model, push_data, tmp_path):
    ckpt_dir = tmp_path / "ckpt"
    shutil.copytree(tiny_model, ckpt_dir)
    before = json.loads((ckpt_dir / "config.json").read_text())
    with pytest.raises(SystemExit, match=r"calibrate-contact: threshold must be in \(0, 1\), got 1.5"):
        main(["calibrate-contact", "--model", str(ckpt_dir), "--data", str(push_data[0]), "--threshold", "1.5"])
    with pytest.raises(SystemExit, match=r"calibrate-contact: .*no such dataset folder"):
        main(["calibrate-contact", "--model", str(ckpt_dir), "--data", str(tmp_path / "missing")])
    assert json.loads((ckpt_dir / "config.json").read_text()) == before
