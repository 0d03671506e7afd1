"""Ray collection (``collect --workers N``): the same dataset as serial collection, crash-safe, optional."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cosmos3_gym.data import collect
from cosmos3_gym.data.fanout import FanoutError

ray = pytest.importorskip("ray", reason="the extra 'distributed' (Ray) is not installed")

ARGS = ("franka", "lift", 6, "noisy-expert")


def _files(root: Path) -> dict[str, bytes]:
    """Every file of a dataset folder by relative path -> its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _collect_and_append(out: Path, workers: int) -> Path:
    """4 episodes, then 2 more appended (seeds 4, 5)."""
    collect(*ARGS[:2], 4, ARGS[3], out, progress=False, workers=workers)
    return collect(*ARGS[:2], 2, ARGS[3], out, progress=False, append=True, workers=workers)


def test_two_workers_write_the_serial_dataset_and_append(tmp_path):
    out = _collect_and_append(tmp_path / "ray", workers=2)
    assert not ray.is_initialized()  # the Ray this run started is shut down again
    # Byte for byte: data, episodes index, stats and info (seeds in order).
    assert _files(out) == _files(_collect_and_append(tmp_path / "serial", workers=1))


def _ray_workers_running(name: str) -> list[int]:
    """Pids of Ray worker processes currently executing task ``name`` (Ray titles them ``ray::name``)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(f"ray::{name}".encode()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray's worker processes through /proc (Linux)")
def test_a_killed_worker_has_its_episode_rerun(tmp_path):
    episodes = 40  # long enough to catch a worker mid-episode
    cmd = [sys.executable, "-m", "cosmos3_gym.cli", "collect", "--embodiment", ARGS[0], "--task", ARGS[1]]
    cmd += ["--episodes", str(episodes), "--policy", ARGS[3], "--workers", "2", "--out", str(tmp_path / "ds")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "RAY_ADDRESS": ""})
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        pids = _ray_workers_running("run_episodes")
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.05)
    _, err = proc.communicate(timeout=300)
    assert killed is not None, "no worker was caught running an episode; the run ended first"
    assert proc.returncode == 0, err.decode()[-2000:]
    full = collect(ARGS[0], ARGS[1], episodes, ARGS[3], tmp_path / "serial", progress=False)
    assert _files(tmp_path / "ds") == _files(full)


def test_without_ray_workers_say_how_to_install_and_write_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(FanoutError, match=r"pip install 'cosmos3-gym\[distributed\]'"):
        collect(*ARGS, tmp_path / "ds", progress=False, workers=2)
    assert not (tmp_path / "ds").exists()
    assert collect(*ARGS[:2], 1, ARGS[3], tmp_path / "ds", progress=False, workers=1).is_dir()  # serial: no Ray


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_bad_worker_counts(tmp_path, workers):
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        collect(*ARGS, tmp_path / "ds", progress=False, workers=workers)
    assert not (tmp_path / "ds").exists()
