"""Env steps/s of every MuJoCo twin, single process, one run.

Each twin runs its registered Lift id (``Cosmos3-<Robot>-Lift-MuJoCo-v0``, through ``gym.make`` as a user
would) under random-smooth actions, resetting when an episode ends (resets are part of the timed loop,
as in a real rollout). A warm-up precedes the timed ``--steps`` steps. Reported per twin: steps/s, median
and p95 latency of ``step`` (ms, resets excluded), physics steps/s (steps/s × substeps) and the
real-time factor (steps/s ÷ control fps). The machine's load average is recorded next to the hardware
label because the numbers are only comparable on an otherwise idle machine.
Results: ``benchmarks/results/twin_throughput.csv`` and ``.json``.

    python benchmarks/twin_throughput.py --steps 3000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from hardware import hardware_label
from tqdm import tqdm

import cosmos3_gym
from cosmos3_gym.registration import robot_name
from cosmos3_gym.sim.policies import RandomSmooth

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = (
    "embodiment",
    "env_id",
    "steps",
    "resets",
    "steps_per_s",
    "median_step_ms",
    "p95_step_ms",
    "substeps",
    "physics_steps_per_s",
    "control_fps",
    "realtime_factor",
    "wall_s",
)


def measure(embodiment: str, steps: int, warmup: int, seed: int = 0) -> dict:
    """Time ``steps`` closed-loop steps of one twin's Lift env after ``warmup`` untimed steps."""
    env_id = f"Cosmos3-{robot_name(embodiment)}-Lift-MuJoCo-v0"
    env = gym.make(env_id)
    policy = RandomSmooth(env.action_space.shape[0], seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(warmup):
        obs, _, term, trunc, _ = env.step(policy(obs))
        if term or trunc:
            obs, _ = env.reset()
    lat = np.empty(steps)
    resets = 0
    start = time.perf_counter()
    for i in range(steps):
        action = policy(obs)
        t0 = time.perf_counter()
        obs, _, term, trunc, _ = env.step(action)
        lat[i] = time.perf_counter() - t0
        if term or trunc:
            obs, _ = env.reset()
            resets += 1
    wall = time.perf_counter() - start
    emb = env.unwrapped.emb
    env.close()
    sps = steps / wall
    return {
        "embodiment": embodiment,
        "env_id": env_id,
        "steps": steps,
        "resets": resets,
        "steps_per_s": round(sps, 1),
        "median_step_ms": round(1e3 * float(np.median(lat)), 3),
        "p95_step_ms": round(1e3 * float(np.percentile(lat, 95)), 3),
        "substeps": emb.spec.controller.substeps,
        "physics_steps_per_s": round(sps * emb.spec.controller.substeps),
        "control_fps": emb.fps,
        "realtime_factor": round(sps / emb.fps, 1),
        "wall_s": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000, help="timed steps per twin (>= 2000 for the record)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed steps before timing")
    parser.add_argument(
        "--embodiments", nargs="+", default=cosmos3_gym.list_embodiments(), choices=cosmos3_gym.list_embodiments()
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "twin_throughput", help="output stem: writes <out>.csv and <out>.json"
    )
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0:
        parser.error(f"--steps must be >= 1 and --warmup >= 0, got {args.steps}, {args.warmup}")

    load_before = os.getloadavg()
    rows = []
    for name in tqdm(args.embodiments, desc="twins"):
        rows.append(measure(name, args.steps, args.warmup))
        r = rows[-1]
        tqdm.write(
            f"{name:>7s}: {r['steps_per_s']:8.1f} steps/s  median {r['median_step_ms']:.2f} ms  "
            f"x{r['realtime_factor']} real time"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    hw = hardware_label("cpu")
    hw["loadavg_1m_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    report = {
        "benchmark": "MuJoCo twin env steps/s (single process, Lift, random-smooth actions)",
        "protocol": f"gym.make(<twin id>), {args.warmup} warm-up steps, {args.steps} timed steps, "
        "resets inside the timed loop, step latency excludes resets",
        "hardware": hw,
        "results": rows,
    }
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
