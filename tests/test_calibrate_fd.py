"""Forward-dynamics TCP gate calibration: chosen by open-loop MuJoCo replay, written into the checkpoint,
honoured by the learned simulator."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from cosmos3_gym.cli import main as cli
from cosmos3_gym.envs.learned_core import LearnedSimCore
from cosmos3_gym.model import Checkpoint, checkpoint_digest, load_checkpoint
from cosmos3_gym.validation.calibrate_fd import calibrate_tcp_gates, choose_gate


@pytest.fixture()
def ckpt(tiny_model, tmp_path):
    """A writable copy of the tiny checkpoint."""
    return str(shutil.copytree(tiny_model, tmp_path / "ckpt"))


def test_calibration_writes_the_best_measured_gate_and_keeps_the_weights(ckpt, capsys):
    digest = checkpoint_digest(ckpt)
    report = calibrate_tcp_gates(ckpt, ["widowx"], episodes=1, gates=(0.0, 1.0), progress=True)
    assert "calibrate-fd" in capsys.readouterr().err
    scores = report["widowx"]["scores"]
    assert set(scores) == {0.0, 1.0} and all(s["tcp_mm_at_16"] >= 0 for s in scores.values())
    assert all(0 <= s["expert_agreement"] <= 1 for s in scores.values())
    assert report["widowx"]["gate"] == choose_gate(scores)
    loaded = load_checkpoint(ckpt)  # still verifies: the weights were not rewritten
    assert checkpoint_digest(ckpt) == digest
    assert loaded.stats["widowx"].tcp_residual_gate == report["widowx"]["gate"]
    assert loaded.stats["ur5e"].tcp_residual_gate == 1.0  # not calibrated: unchanged
    calibrate_tcp_gates(ckpt, ["ur5e"], episodes=1, gates=(0.0, 1.0))  # a partial rerun keeps widowx's row
    assert {"widowx", "ur5e"} <= set(load_checkpoint(ckpt).meta["tcp_gate_calibration"])


def test_a_gate_that_loses_closed_loop_agreement_is_not_chosen():
    scores = {
        0.0: {"tcp_mm_at_16": 1.0, "expert_agreement": 0.80},  # least drift, but 4 episodes in 50 lost
        0.5: {"tcp_mm_at_16": 2.0, "expert_agreement": 0.89},  # within the tolerance
        1.0: {"tcp_mm_at_16": 5.0, "expert_agreement": 0.90},
    }
    assert choose_gate(scores) == 0.5
    assert (
        choose_gate(
            {0.0: {"tcp_mm_at_16": 2.0, "expert_agreement": 1.0}, 1.0: {"tcp_mm_at_16": 2.0, "expert_agreement": 1.0}}
        )
        == 1.0
    )


def _step_tcp(ckpt: Checkpoint, gate: float, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(commanded TCP position, predicted TCP position) of one step of a fresh learned UR5e Reach env."""
    gated = Checkpoint(ckpt.model, {**ckpt.stats, "ur5e": replace(ckpt.stats["ur5e"], tcp_residual_gate=gate)})
    core = LearnedSimCore("ur5e", "reach", 1, gated)
    core.reset(np.arange(1), [5])
    target, _ = core.nmap.command(core.prior.arm_tcp(core.state), action[None])
    core.step(action[None])
    return target[0, 0, :3, 3], core.prior.arm_tcp(core.state)[0, 0, :3, 3]


def test_gate_zero_puts_the_tcp_at_its_commanded_pose_and_gate_one_adds_the_residual(tiny_model):
    ckpt = load_checkpoint(tiny_model)
    action = np.array([0.3, -0.2, 0.5, 0.1, 0.0, -0.1, 1.0], np.float32)  # upwards: no table floor involved
    commanded, predicted = _step_tcp(ckpt, 0.0, action)
    np.testing.assert_allclose(predicted, commanded, atol=1e-5)
    _, residual = _step_tcp(ckpt, 1.0, action)
    assert np.abs(residual - commanded).max() > 1e-5


def test_bad_requests_are_refused_and_leave_the_checkpoint_untouched(ckpt):
    before = open(f"{ckpt}/config.json").read()
    with pytest.raises(ValueError, match="not trained on"):
        calibrate_tcp_gates(ckpt, ["nonexistent"], episodes=1)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        calibrate_tcp_gates(ckpt, ["franka"], episodes=1, gates=(0.0, -0.5))
    with pytest.raises(ValueError, match="episodes must be >= 1"):
        calibrate_tcp_gates(ckpt, ["franka"], episodes=0)
    assert open(f"{ckpt}/config.json").read() == before
    config = json.loads(before)
    no_prior = dict(config, model=dict(config["model"], residual_prior=False))
    with open(f"{ckpt}/config.json", "w") as f:
        json.dump(no_prior, f)
    with pytest.raises(SystemExit, match="not a residual_prior checkpoint"):
        cli(["calibrate-fd", "--model", ckpt, "--episodes", "1"])
    assert json.loads(open(f"{ckpt}/config.json").read()) == no_prior
