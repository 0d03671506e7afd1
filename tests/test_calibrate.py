"""Inverse-dynamics gate calibration: chosen by MuJoCo replay, written into the checkpoint, honoured at inference."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cosmos3_gym.cli import main as cli
from cosmos3_gym.model import CheckpointError, checkpoint_digest, load_checkpoint
from cosmos3_gym.model.checkpoint import update_stats
from cosmos3_gym.model.inference import ModeRunner
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.validation.calibrate import calibrate_id_gates


@pytest.fixture()
def ckpt(tiny_model, tmp_path):
    """A writable copy of the tiny checkpoint."""
    return str(shutil.copytree(tiny_model, tmp_path / "ckpt"))


def test_calibration_writes_the_best_measured_gate_and_keeps_the_weights(ckpt):
    digest = checkpoint_digest(ckpt)
    report = calibrate_id_gates(ckpt, ["franka"], episodes=1, gates=(0.0, 1.0))
    errors = report["franka"]["replay_tcp_mm"]
    assert set(errors) == {0.0, 1.0} and all(v >= 0 for v in errors.values())
    assert report["franka"]["gate"] == min(errors, key=errors.get)
    loaded = load_checkpoint(ckpt)  # still verifies: the weights were not rewritten
    assert checkpoint_digest(ckpt) == digest
    assert loaded.stats["franka"].id_residual_gate == report["franka"]["gate"]
    assert loaded.stats["ur5e"].id_residual_gate == 1.0  # not calibrated: unchanged
    assert loaded.meta["id_gate_calibration"]["franka"]["gate"] == report["franka"]["gate"]
    calibrate_id_gates(ckpt, ["ur5e"], episodes=1, gates=(0.0, 1.0))  # a partial rerun keeps franka's row
    assert {"franka", "ur5e"} <= set(load_checkpoint(ckpt).meta["id_gate_calibration"])


def test_gate_zero_gives_the_contract_inverse_and_gate_one_the_trained_residual(tiny_model):
    runner = ModeRunner(load_checkpoint(tiny_model), "ur5e")
    env = MujocoTwinEnv("ur5e", "lift")
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(0)
    states = [obs["observation"]]
    for _ in range(runner.chunk):
        obs, *_ = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        states.append(obs["observation"])
    seq, goal = np.array(states)[None], obs["desired_goal"][None]
    contract = runner.prior.inverse(seq[0, :-1], seq[0, 1:])
    runner.space.id_gate = 0.0
    gated = runner.inverse_dynamics(seq, goal, "lift")[0]
    np.testing.assert_allclose(gated, runner.emb.from_tokens(runner.emb.to_tokens(contract)[0]), atol=1e-5)
    runner.space.id_gate = 1.0
    assert np.abs(runner.inverse_dynamics(seq, goal, "lift")[0] - gated).max() > 1e-4


def test_bad_requests_are_refused_and_leave_the_checkpoint_untouched(ckpt):
    before = open(f"{ckpt}/config.json").read()
    with pytest.raises(ValueError, match="not trained on"):
        calibrate_id_gates(ckpt, ["nonexistent"], episodes=1)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        calibrate_id_gates(ckpt, ["franka"], episodes=1, gates=(0.0, 1.5))
    with pytest.raises(ValueError, match="episodes must be >= 1"):
        calibrate_id_gates(ckpt, ["franka"], episodes=0)
    assert open(f"{ckpt}/config.json").read() == before
    config = json.loads(before)
    no_prior = dict(config, model=dict(config["model"], id_prior=False))
    with open(f"{ckpt}/config.json", "w") as f:
        json.dump(no_prior, f)
    with pytest.raises(SystemExit, match="not an id_prior checkpoint"):
        cli(["calibrate-id", "--model", ckpt, "--episodes", "1"])
    assert json.loads(open(f"{ckpt}/config.json").read()) == no_prior


def test_stats_are_not_rewritten_over_weights_that_changed_after_loading(ckpt):
    loaded = load_checkpoint(ckpt)
    before = open(f"{ckpt}/config.json").read()
    with open(f"{ckpt}/model.safetensors", "ab") as f:
        f.write(b"\0")
    with pytest.raises(CheckpointError, match="changed since it was loaded"):
        update_stats(loaded, loaded.stats, loaded.meta)
    assert open(f"{ckpt}/config.json").read() == before


def test_calibration_shows_progress(ckpt, capsys):
    calibrate_id_gates(ckpt, ["franka"], episodes=1, gates=(0.0, 1.0), progress=True)
    assert "calibrate-id" in capsys.readouterr().err
