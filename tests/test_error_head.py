"""The learned error estimate: the ridge fit, its calibration into a checkpoint, and the env reporting it."""

from __future__ import annotations

import shutil

import gymnasium as gym
import numpy as np
import pytest

from cosmos3_gym.cli import main
from cosmos3_gym.model import checkpoint_digest, load_checkpoint
from cosmos3_gym.model.error_head import EPS_M, ErrorHead, fit_ridge
from cosmos3_gym.validation import metrics
from cosmos3_gym.validation.uncertainty_head import calibrate_error_heads


def test_fit_ridge_recovers_a_log_linear_error():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6))
    error = np.exp(x @ np.array([0.8, -0.5, 0.0, 0.3, 0.0, 0.1]) - 6.0) - EPS_M
    error = np.maximum(error, 0.0)
    head = fit_ridge(x, error, alpha=1e-3)
    assert metrics.correlations(head.predict(x), error)["spearman"] > 0.99
    assert ErrorHead(**head.to_dict()).predict(x[:3]) == pytest.approx(head.predict(x[:3]))
    with pytest.raises(ValueError, match="more samples than features"):
        fit_ridge(x[:5], error[:5])


@pytest.fixture()
def ckpt_copy(tiny_model, tmp_path):
    out = tmp_path / "ckpt"
    shutil.copytree(tiny_model, out)
    return out


def test_calibration_writes_heads_the_env_reports(ckpt_copy):
    digest = checkpoint_digest(ckpt_copy)
    report = calibrate_error_heads(ckpt_copy, ["franka"], episodes=2, progress=False)
    assert report["franka"]["samples"] > 0 and report["franka"]["seeds"] == [70_000, 70_001]
    ckpt = load_checkpoint(ckpt_copy)
    assert checkpoint_digest(ckpt_copy) == digest  # weights untouched
    assert ckpt.stats["franka"].error_head is not None and ckpt.stats["umi"].error_head is None
    env = gym.make("Cosmos3-Franka-Lift-v0", model=str(ckpt_copy), uncertainty_samples=2)
    core = env.unwrapped.core
    env.reset(seed=0)
    for _ in range(20):
        info = env.step(env.action_space.sample())[-1]
    head = ErrorHead(**ckpt.stats["franka"].error_head)
    np.testing.assert_allclose(np.ravel(info["model_uncertainty"]), head.predict(core.features()))
    assert not np.allclose(core.uncertainty, core.accumulated)  # the head, not the carried spread
    env.close()


def test_calibration_refuses_seeds_outside_the_training_range(ckpt_copy, capsys):
    with pytest.raises(SystemExit, match=r"calibrate-uncertainty: .*training range"):
        main(["calibrate-uncertainty", "--model", str(ckpt_copy), "--seed", "99999", "--episodes", "5"])
    assert load_checkpoint(ckpt_copy).stats["franka"].error_head is None


def test_a_head_of_other_features_is_refused_and_refitting_replaces_it(ckpt_copy):
    from dataclasses import replace

    from cosmos3_gym.model.checkpoint import update_stats

    ckpt = load_checkpoint(ckpt_copy)
    stale = ErrorHead([0.0] * 3, [1.0] * 3, [0.0] * 4).to_dict()  # fitted on another feature set
    update_stats(ckpt, {**ckpt.stats, "franka": replace(ckpt.stats["franka"], error_head=stale)}, ckpt.meta)
    with pytest.raises(ValueError, match=r"reads 3 features.*calibrate-uncertainty"):
        gym.make("Cosmos3-Franka-Reach-v0", model=str(ckpt_copy), uncertainty_samples=2)
    calibrate_error_heads(ckpt_copy, ["franka"], episodes=1, progress=False)  # not blocked by the stale head
    calibrate_error_heads(ckpt_copy, ["umi"], episodes=1, progress=False)  # a partial rerun keeps franka's record
    assert set(load_checkpoint(ckpt_copy).meta["error_heads"]) == {"franka", "umi"}
    env = gym.make("Cosmos3-Franka-Reach-v0", model=str(ckpt_copy), uncertainty_samples=2)
    env.reset(seed=0)
    assert np.isfinite(env.step(env.action_space.sample())[-1]["model_uncertainty"])
    env.close()
