"""Validation rows fanned out over Ray (``benchmarks/fidelity.py --workers``) equal the serial rows."""

from __future__ import annotations

import pytest

from cosmos3_gym.validation import suite

pytest.importorskip("ray", reason="the extra 'distributed' (Ray) is not installed")


def test_suite_rows_over_ray_equal_serial_rows(tiny_model):
    jobs = [
        suite.RowJob("expert", "franka", "reach", tiny_model, (200_000, 200_001)),
        suite.RowJob("contact", "widowx", "push", tiny_model, (200_000, 200_001)),
        suite.RowJob("families", "umi", "lift", tiny_model, (200_000,)),
    ]
    serial = list(suite.run_rows(jobs))
    fanned = list(suite.run_rows(jobs, workers=2))
    for a, b in zip(serial, fanned, strict=True):
        a.pop("wall_s"), b.pop("wall_s")
    assert [(r["embodiment"], r["task"]) for r in fanned] == [("franka", "reach"), ("widowx", "push"), ("umi", "lift")]
    assert fanned == serial


def test_validate_runs_its_suite_over_ray_with_the_same_results(tiny_model):
    import cosmos3_gym

    kw = dict(episodes=1, horizon=8, ranking_policies=(), scenarios=(), inverse_dynamics=False, video_episodes=0)
    kw |= dict(plots=False, contact_episodes=2, family_episodes=1)
    serial = cosmos3_gym.validate("Cosmos3-WidowX-Push-v0", tiny_model, **kw)["suite"]
    fanned = cosmos3_gym.validate("Cosmos3-WidowX-Push-v0", tiny_model, workers=2, **kw)["suite"]
    assert set(fanned) == {"split", "expert_agreement", "contact", "action_families"}
    assert fanned == serial
    with pytest.raises(ValueError, match="need a checkpoint folder"):
        suite.validate_suite("widowx", "push", lambda n: None, "select", 1, 0, None, workers=2)
