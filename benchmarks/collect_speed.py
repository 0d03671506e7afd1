"""Dataset collection and loading speed, one run per policy on one embodiment × task.

Per policy: ``collect`` wall time for full-length episodes (env creation, rollout and one atomic
commit per episode included) as episodes/s and steps/s; the time spent inside the per-episode commits
(``DatasetWriter.add_episode``, timed in the same run, so machine load affects both alike);
``load_dataset`` time; then the path ``cosmos3-gym train`` reads data through: ``episodes_from_datasets``
+ ``compute_stats`` + ``WindowSampler`` build time, and windows/s of ``WindowSampler.batch(256)`` (the
normalized training tensors, priors included). Results go to ``benchmarks/results/collect_speed.csv`` and
``.json`` with the hardware label.

    python benchmarks/collect_speed.py --embodiment franka --task lift --episodes 50
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow
from hardware import hardware_label

from cosmos3_gym.data import collect, load_dataset
from cosmos3_gym.data.writer import DatasetWriter
from cosmos3_gym.sim.policies import get_policy_kind, policy_kinds
from cosmos3_gym.training.episodes import episodes_from_datasets
from cosmos3_gym.training.windows import WindowSampler, compute_stats

RESULTS = Path(__file__).resolve().parent / "results"


def measure(embodiment: str, task: str, policy: str, episodes: int) -> dict:
    commits: list[float] = []
    add_episode = DatasetWriter.add_episode

    def timed(self: DatasetWriter, *args: object, **kwargs: object) -> None:
        t = time.perf_counter()
        add_episode(self, *args, **kwargs)
        commits.append(time.perf_counter() - t)

    with tempfile.TemporaryDirectory() as tmp:
        DatasetWriter.add_episode = timed
        try:
            t0 = time.perf_counter()
            out = collect(embodiment, task, episodes, policy, Path(tmp) / "ds", progress=False)
            collect_s = time.perf_counter() - t0
        finally:
            DatasetWriter.add_episode = add_episode
        t0 = time.perf_counter()
        ds = load_dataset(out)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        eps = episodes_from_datasets([str(out)])
        windows = WindowSampler(eps, compute_stats(eps))
        build_s = time.perf_counter() - t0
        windows.batch(256)
        t0 = time.perf_counter()
        reps = 50
        for _ in range(reps):
            windows.batch(256)
        batch_s = (time.perf_counter() - t0) / reps
        disk_mb = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) / 2**20
    frames = ds.num_frames
    return {
        "embodiment": embodiment,
        "task": task,
        "policy": policy,
        "episodes": episodes,
        "steps": frames,
        "success_rate": float(ds.success[ds.episode_start + ds.episode_length - 1].mean()),
        "collect_s": round(collect_s, 3),
        "episodes_per_s": round(episodes / collect_s, 2),
        "steps_per_s": round(frames / collect_s, 1),
        "commit_ms_mean": round(1000 * np.mean(commits), 1),
        "commit_ms_max": round(1000 * np.max(commits), 1),
        "commit_share_pct": round(100 * np.sum(commits) / collect_s, 1),
        "disk_mb": round(disk_mb, 3),
        "load_s": round(load_s, 4),
        "train_windows_build_s": round(build_s, 4),
        "train_windows_per_s_batch256": round(256 / batch_s),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--embodiment", default="franka")
    p.add_argument("--task", default="lift")
    kinds = policy_kinds("collect")
    plain = [k for k in kinds if not any(o.required for o in get_policy_kind(k).options)]  # no agent zip needed
    p.add_argument("--policy", nargs="+", default=plain, choices=kinds)
    p.add_argument("--episodes", type=int, default=50)
    args = p.parse_args()
    rows = []
    for policy in args.policy:
        try:
            rows.append(measure(args.embodiment, args.task, policy, args.episodes))
        except ImportError as e:  # the expert module may be absent in a partial checkout
            print(f"skip {policy}: {e}")
            continue
        print(json.dumps(rows[-1]))
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "collect_speed.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    # Other work on a shared machine slows every number here; the load average says how much there was.
    label = {**hardware_label(), "pyarrow": pyarrow.__version__, "load_avg_1_5_15": os.getloadavg()}
    (RESULTS / "collect_speed.json").write_text(json.dumps({"hardware": label, "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
