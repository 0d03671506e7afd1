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
