"""Env steps/s of the learned simulator (single env and vector env) against the MuJoCo twin, one run.

Closed loop, one action per step, the way an RL agent uses it: random-smooth actions, no learning.
The learned vector env at 1, 16, 256 and 1024 environments (and 4096 on a GPU), the learned single
env, and the twin in a single process, on the same task and machine, in one run. Results go to
``benchmarks/results/throughput[_<device>].csv`` and ``.json`` with the hardware label.

    python benchmarks/throughput.py --model default --env Cosmos3-Franka-Lift-v0
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import cosmos3_gym  # noqa: F401
from hardware import hardware_label

RESULTS = Path(__file__).resolve().parent / "results"


def _smooth_actions(shape: tuple[int, ...], steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((steps, *shape), np.float32)
    a = np.zeros(shape)
    for t in range(steps):
        a = 0.8 * a + 0.2 * rng.uniform(-1, 1, shape)
        out[t] = np.clip(3 * a, -1, 1)
    return out


def time_single(env: gym.Env, steps: int) -> tuple[float, float]:
    """(steps/s, median step latency in ms) of a single env over ``steps`` steps (after warm-up)."""
    env.reset(seed=0)
    actions = _smooth_actions(env.action_space.shape, steps + 20)
    for a in actions[:20]:
        env.step(a)
    lat = np.empty(steps)
    t0 = time.perf_counter()
    for i, a in enumerate(actions[20:]):
        t = time.perf_counter()
        _, _, term, trunc, _ = env.step(a)
        lat[i] = time.perf_counter() - t
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0), float(np.median(lat) * 1e3)


def time_vector(env_id: str, n: int, model: str, device: str, seconds: float) -> float:
    venv = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", model=model, device=device)
    venv.reset(seed=0)
    actions = _smooth_actions(venv.action_space.shape, 64)
    for a in actions[:8]:
        venv.step(a)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        venv.step(actions[steps % 64])
        steps += 1
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    rate = steps * n / (time.perf_counter() - t0)
    venv.close()
    return rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="Cosmos3-Franka-Lift-v0")
    p.add_argument("--model", default="default")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num-envs", type=int, nargs="+", default=None)
    p.add_argument("--single-steps", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=8.0, help="timing window per vector size")
    p.add_argument("--single-threads", type=int, default=1,
                   help="torch threads while timing the single env (batch 1 gains nothing from intra-op threads "
                        "and pays their wake-up cost, badly so on a busy 2-core machine)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    vector_threads = torch.get_num_threads()
    sizes = args.num_envs or ([1, 16, 256, 1024, 4096] if args.device.startswith("cuda") else [1, 16, 256, 1024])
    rows = []
    twin = gym.make(args.env.replace("-v0", "-MuJoCo-v0"))
    twin_rate, twin_ms = time_single(twin, args.single_steps)
    rows.append({"backend": "mujoco twin", "num_envs": 1, "steps_per_s": round(twin_rate, 1),
                 "step_latency_ms": round(twin_ms, 3)})
    single = gym.make(args.env, model=args.model, device=args.device, uncertainty_samples=0)
    torch.set_num_threads(args.single_threads)
    rate, ms = time_single(single, args.single_steps)
    torch.set_num_threads(vector_threads)
    rows.append({"backend": "learned single env", "num_envs": 1, "steps_per_s": round(rate, 1),
                 "step_latency_ms": round(ms, 3)})
    for n in sizes:
        rows.append({"backend": "learned vector env", "num_envs": n,
                     "steps_per_s": round(time_vector(args.env, n, args.model, args.device, args.seconds), 1),
                     "step_latency_ms": ""})
    for r in rows:
        r["x_twin"] = round(r["steps_per_s"] / twin_rate, 2)
    v256 = next((r for r in rows if r["num_envs"] == 256 and r["backend"] == "learned vector env"), None)
    targets = {
        "vector_256_over_twin": {"target": ">= 10", "measured": v256 and v256["x_twin"]},
        "single_latency_over_twin": {"target": "<= 2", "measured": round(ms / twin_ms, 2)},
        "vector_256_steps_per_s": {"target": ">= 20000 (world-model issue)", "measured": v256 and v256["steps_per_s"]},
        "single_latency_ms": {"target": "<= 2", "measured": round(ms, 3)},
    }
    out = args.out or RESULTS / ("throughput.csv" if args.device == "cpu" else f"throughput_{args.device.split(':')[0]}.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    summary = {"env": args.env, "model": args.model, "device": args.device, "rows": rows, "targets": targets,
               "hardware": hardware_label(args.device), "command": "python benchmarks/throughput.py " +
               " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "out")}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    for r in rows:
        print(r)
    print(json.dumps(targets, indent=1))


if __name__ == "__main__":
    main()
