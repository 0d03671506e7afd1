"""Env steps/s of the learned simulator (single env and vector env) against the MuJoCo twin, interleaved rounds.

Closed loop, one action per step, the way an RL agent uses it (see ``cosmos3_gym/bench.py``): the
twin in a single process, the learned single env, and the learned vector env at 1, 16, 256 and 1024
environments (and 4096 on a GPU), same task, same machine, ``--repeats`` interleaved rounds (median
and range reported); ``--baseline`` times a second model in the same rounds for a paired ratio. Results go to
``benchmarks/results/throughput[_<device>].csv`` and ``.json`` with the hardware label.

    python benchmarks/throughput.py --model default --env Cosmos3-Franka-Lift-v0
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from hardware import hardware_label

import cosmos3_gym  # noqa: F401
from cosmos3_gym.bench import compare
from cosmos3_gym.envs.ids import resolve_env

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="Cosmos3-Franka-Lift-v0")
    p.add_argument("--model", default="default")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num-envs", type=int, nargs="+", default=None)
    p.add_argument("--single-steps", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=8.0, help="timing window per vector size")
    p.add_argument(
        "--single-threads",
        type=int,
        default=1,
        help="torch threads while timing the single env: batch 1 gains nothing from intra-op threads "
        "and pays their wake-up cost, badly so on a busy 2-core machine",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="rounds over all backends in turn; rows report the median and the range (this VM's speed "
        "drifts by up to 1.6x between minutes)",
    )
    p.add_argument(
        "--baseline",
        default=None,
        help="a second model timed in the same rounds; --model's rows get x_baseline (paired per-round ratio)",
    )
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    try:  # one line naming the learned ids, not a traceback from gym.make deep in the timing loop
        resolve_env(args.env, learned_only=True)
    except ValueError as exc:
        p.error(str(exc))
    sizes = args.num_envs or ([1, 16, 256, 1024, 4096] if args.device.startswith("cuda") else [1, 16, 256, 1024])
    rows = compare(
        args.env,
        args.model,
        args.device,
        tuple(sizes),
        args.single_steps,
        args.seconds,
        args.single_threads,
        args.repeats,
        args.baseline,
    )
    for r in rows:
        r.update({k: round(v, 3) for k, v in r.items() if isinstance(v, float)})
    twin, single = rows[0], rows[1]
    v256 = next((r for r in rows if r["num_envs"] == 256 and r["backend"] == "learned vector env"), None)
    targets = {
        "vector_256_over_twin": {"target": ">= 10", "measured": v256 and v256["x_twin"]},
        "single_latency_over_twin": {
            "target": "<= 2",
            "measured": round(single["step_latency_ms"] / twin["step_latency_ms"], 2),
        },
        "vector_256_steps_per_s": {"target": ">= 20000", "measured": v256 and v256["steps_per_s"]},
        "single_latency_ms": {"target": "<= 2", "measured": single["step_latency_ms"]},
    }
    out = args.out or RESULTS / (
        "throughput.csv" if args.device == "cpu" else f"throughput_{args.device.split(':')[0]}.csv"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows(rows)
    cmd = " ".join(
        f"--{k.replace('_', '-')} {v if not isinstance(v, list) else ' '.join(map(str, v))}"
        for k, v in vars(args).items()
        if v is not None and k != "out"
    )
    summary = {
        "env": args.env,
        "model": args.model,
        "device": args.device,
        "rows": rows,
        "targets": targets,
        "hardware": hardware_label(args.device),
        "command": f"python benchmarks/throughput.py {cmd}",
    }
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    for r in rows:
        print(r)
    print(json.dumps(targets, indent=1))


if __name__ == "__main__":
    main()
