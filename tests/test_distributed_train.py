"""``torchrun -m cosmos3_gym train``: data-parallel training (gloo on CPU) takes one process's steps."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cosmos3_gym.data import collect
from cosmos3_gym.model import load_checkpoint

TRAIN = ["--size", "tiny", "--batch-size", "16", "--policy-batch", "4", "--val-every", "3", "--val-windows", "32"]
TRAIN += ["--warmup", "2", "--seed", "3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("ddp_data")
    return [
        str(collect("franka", "lift", 3, "noisy-expert", root / "noisy", progress=False, max_steps=40)),
        str(collect("widowx", "lift", 2, "expert", root / "expert", progress=False, max_steps=40)),
    ]


def _train(data: list[str], out: Path, steps: int, ranks: int, *extra: str) -> subprocess.CompletedProcess:
    args = ["train", "--data", *data, "--out", str(out), "--steps", str(steps), *TRAIN, *extra]
    if ranks == 1:
        cmd = [sys.executable, "-m", "cosmos3_gym", *args, "--threads", "1"]
    else:  # torchrun's own launcher, --standalone: a local rendezvous on a free port
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks), "--standalone"]
        cmd += ["-m", "cosmos3_gym", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)


def _log(out: Path) -> np.ndarray:
    """Per-step (loss, loss_state, loss_action) of a run's train_log.csv."""
    with (out / "train_log.csv").open() as f:
        return np.array([[float(r[k]) for k in ("loss", "loss_state", "loss_action")] for r in csv.DictReader(f)])


def _ok(run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 0, run.stderr[-3000:]


def test_two_ranks_follow_the_single_process_loss_curve_and_resume(tmp_path, data):
    # 4 steps, then --resume to 8: the schedule and the sampling streams continue on both sides.
    for ranks in (1, 2):
        _ok(_train(data, tmp_path / f"r{ranks}", 4, ranks))
        _ok(_train(data, tmp_path / f"r{ranks}", 8, ranks, "--resume"))
    one, two = _log(tmp_path / "r1"), _log(tmp_path / "r2")
    assert one.shape == two.shape == (8, 3)
    np.testing.assert_allclose(two, one, rtol=1e-5)  # float summation order is the only difference
    a, b = load_checkpoint(tmp_path / "r1"), load_checkpoint(tmp_path / "r2")
    assert b.meta["step"] == 8 and b.meta["data_parallel"] == {"ranks": 2, "backend": "gloo"}
    wa, wb = a.model.state_dict(), b.model.state_dict()
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-5
    assert sorted(p.name for p in (tmp_path / "r2").iterdir()) == sorted(p.name for p in (tmp_path / "r1").iterdir())


def test_a_global_batch_that_does_not_split_is_refused_in_one_line(tmp_path, data):
    run = _train(data, tmp_path / "odd", 2, 2, "--batch-size", "15")
    assert run.returncode != 0
    assert "--batch-size 15 and --policy-batch 4 must be multiples of the 2 ranks" in run.stderr
    assert "cosmos3_gym/" not in run.stderr  # the ranks print the line; the traceback is torchrun's launcher
    assert not (tmp_path / "odd" / "model.safetensors").exists()
