"""Success rate of the scripted experts on every MuJoCo twin (embodiment × task), one run.

Episode ``i`` of a cell is ``env.reset(seed=i)`` on the registered twin id (``Cosmos3-<Robot>-<Task>-
MuJoCo-v0``, its ``max_episode_steps``); success is ``info["is_success"]`` at the final step (for Lift the
cube must still be held at the goal then). ``mean_steps_to_success`` is the mean, over successful
episodes, of the first step at which ``is_success`` was true. Cells run in parallel worker processes.
Results: ``benchmarks/results/experts.csv`` and ``.json`` (with the hardware label).

    python benchmarks/experts.py --episodes 100
    python benchmarks/experts.py --episodes 20 --embodiments franka ur5e --tasks lift --out /tmp/experts
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from hardware import hardware_label
from tqdm import tqdm

import cosmos3_gym
from cosmos3_gym.data.fanout import ordered_map, wants_ray
from cosmos3_gym.registration import robot_name
from cosmos3_gym.sim.experts import make_expert
from cosmos3_gym.tasks import TASKS

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = ("embodiment", "task", "episodes", "successes", "success_rate", "mean_steps_to_success", "wall_s")


def run_episode(env: gym.Env, seed: int) -> tuple[bool, int | None]:
    """One expert episode → (success at the final step, first step with ``is_success`` or None)."""
    policy = make_expert(env.unwrapped)
    obs, _ = env.reset(seed=seed)
    policy.reset(obs)
    first, t, done = None, 0, False
    info: dict = {"is_success": False}
    while not done:
        obs, _, terminated, truncated, info = env.step(policy(obs))
        t += 1
        if info["is_success"] and first is None:
            first = t
        done = terminated or truncated
    return bool(info["is_success"]), first


def run_cell(embodiment: str, task: str, episodes: int) -> dict:
    """Seeds ``0 .. episodes-1`` of one embodiment × task → a result row."""
    start = time.perf_counter()
    env = gym.make(f"Cosmos3-{robot_name(embodiment)}-{task.capitalize()}-MuJoCo-v0")
    results = [run_episode(env, seed) for seed in range(episodes)]
    env.close()
    steps = [first for ok, first in results if ok]
    successes = len(steps)
    return {
        "embodiment": embodiment,
        "task": task,
        "episodes": episodes,
        "successes": successes,
        "success_rate": round(successes / episodes, 4),
        "mean_steps_to_success": round(float(np.mean(steps)), 2) if steps else None,
        "wall_s": round(time.perf_counter() - start, 2),
        "failed_seeds": [s for s, (ok, _) in enumerate(results) if not ok],
    }


def _cell(job: tuple[str, str, int]) -> dict:
    return run_cell(*job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100, help="seeded episodes per cell (seeds 0..N-1)")
    parser.add_argument(
        "--embodiments", nargs="+", default=cosmos3_gym.list_embodiments(), choices=cosmos3_gym.list_embodiments()
    )
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--workers", type=int, default=1, help="cells as Ray tasks on N local CPUs (default 1: serial)")
    parser.add_argument("--address", default=None, help="run the cells on this Ray cluster (default $RAY_ADDRESS)")
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "experts", help="output stem: writes <out>.csv and <out>.json"
    )
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")

    cells = [(e, t) for e in args.embodiments for t in args.tasks]
    rows = []
    jobs = [(e, t, args.episodes) for e, t in cells]
    # One Ray task per cell with --workers > 1 (the extra 'distributed'), in this process otherwise.
    runs = (
        ordered_map(_cell, jobs, args.workers, args.address)
        if wants_ray(args.workers, args.address)
        else map(_cell, jobs)
    )
    for row in tqdm(runs, total=len(jobs), desc="expert cells"):
        rows.append(row)
        tqdm.write(
            f"{row['embodiment']:>7s} {row['task']:>5s}: {row['successes']}/{row['episodes']} "
            f"({row['wall_s']:.0f} s) failed seeds {row['failed_seeds'][:10]}"
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    report = {
        "benchmark": "scripted expert success rate on the MuJoCo twins",
        "protocol": "seeds 0..episodes-1, registered max_episode_steps, info['is_success'] at the final step",
        "hardware": hardware_label("cpu"),
        "results": rows,
    }
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    for r in rows:
        print(f"{r['embodiment']:>7s} {r['task']:>5s} {r['success_rate']:6.0%}  steps {r['mean_steps_to_success']}")


if __name__ == "__main__":
    main()
