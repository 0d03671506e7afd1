"""The committed benchmark scripts run end to end on a tiny model and write readable results."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def bench_main(monkeypatch):
    """``bench_main(module, *argv)``: run ``benchmarks/<module>.py``'s ``main()`` with that command line."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def run(module: str, *argv: str) -> None:
        monkeypatch.setattr(sys, "argv", [f"{module}.py", *argv])
        __import__(module).main()

    return run


def test_rl_transfer_rows_guards_and_merge(bench_main, tiny_model, tmp_path):
    common = ("--model", tiny_model, "--steps", "256", "--num-envs", "2", "--eval-episodes", "2", "--no-progress")
    bench_main("rl_transfer", *common, "--rows", "franka-reach", "--out", str(tmp_path / "a"))
    bench_main("rl_transfer", *common, "--rows", "umi-reach", "--ood-sigma", "50", "--out", str(tmp_path / "b"))
    bench_main("rl_transfer", "--merge", str(tmp_path / "b"), str(tmp_path / "a"), "--out", str(tmp_path / "m"))
    report = json.loads((tmp_path / "m" / "rl_transfer.json").read_text())
    assert [r["row"] for r in report["rows"]] == ["franka-reach", "umi-reach"]  # table order, not run order
    assert [r["model_guards"] for r in report["rows"]] == ["none", "ood_sigma=50.0"]
    for r in report["rows"]:
        assert 0 <= r["model_twin_success"] <= 1 and 0 <= r["twin_twin_success"] <= 1
        assert r["model_steps_per_s"] > 0 and r["twin_steps_per_s"] > 0
    assert report["weights_sha256"] and report["hyperparameters_reach"]["policy_kwargs"]["features_extractor_class"]
    with (tmp_path / "m" / "rl_transfer.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 2
    assert "umi-reach" in (tmp_path / "m" / "rl_transfer.md").read_text()
