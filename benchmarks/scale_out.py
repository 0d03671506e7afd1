"""Scale-out speed-ups on this machine: Ray collection against serial, DDP training against one rank.

1. ``collect``: the same episodes collected serially and with ``--workers N`` (Ray started on demand,
   its start-up included in the time); episodes/s of each, the speed-up, and whether the two datasets
   are byte-identical.
2. ``train``: ``cosmos3-gym train`` for a fixed number of optimizer steps with one process (1 and N torch
   threads) and with ``torchrun --nproc-per-node N`` (gloo, one thread per rank), the same global batch;
   training samples/s from each run's ``train_log.csv`` (between its first and last logged step, so
   start-up and data loading are excluded), and the largest per-step loss difference to the one-rank run.

Results: ``results/scale_out.json`` with the hardware label and the load average before and after (other
work on this shared 2-core machine slows every number).

    python benchmarks/scale_out.py --episodes 400 --steps 60
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hardware import hardware_label

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _run(cmd: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def collect_speed(args: argparse.Namespace, tmp: Path) -> dict:
    base = [sys.executable, "-m", "cosmos3_gym", "collect", "--embodiment", args.embodiment, "--task", args.task]
    base += ["--policy", args.policy, "--episodes", str(args.episodes)]
    serial_s = _run([*base, "--out", str(tmp / "serial")])
    ray_s = _run([*base, "--workers", str(args.workers), "--out", str(tmp / "ray")])
    return {
        "embodiment": args.embodiment,
        "task": args.task,
        "policy": args.policy,
        "episodes": args.episodes,
        "workers": args.workers,
        "serial_s": round(serial_s, 2),
        "ray_s": round(ray_s, 2),
        "serial_episodes_per_s": round(args.episodes / serial_s, 2),
        "ray_episodes_per_s": round(args.episodes / ray_s, 2),
        "speedup": round(serial_s / ray_s, 2),
        "datasets_identical": _files(tmp / "serial") == _files(tmp / "ray"),
    }


def _log(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def train_speed(args: argparse.Namespace, tmp: Path) -> dict:
    data = tmp / "serial"
    flags = ["--data", str(data), "--size", args.size, "--steps", str(args.steps), "--batch-size", str(args.batch)]
    flags += ["--policy-batch", "0", "--val-every", str(args.steps), "--val-windows", "64", "--warmup", "5"]
    runs = {
        "1 rank, 1 thread": [sys.executable, "-m", "cosmos3_gym", "train", *flags, "--threads", "1"],
        f"1 rank, {args.workers} threads": [
            *[sys.executable, "-m", "cosmos3_gym", "train", *flags, "--threads", str(args.workers)]
        ],
        f"{args.workers} ranks (gloo), 1 thread each": [
            *[sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(args.workers)],
            *["-m", "cosmos3_gym", "train", *flags],
        ],
    }
    rows, logs = [], {}
    for i, (name, cmd) in enumerate(runs.items()):
        out = tmp / f"train{i}"
        wall = _run([*cmd, "--out", str(out)], env={**os.environ, "OMP_NUM_THREADS": "1"})
        log = logs[name] = _log(out / "train_log.csv")
        steps = len(log) - 1
        seconds = float(log[-1]["elapsed_s"]) - float(log[0]["elapsed_s"])
        rows.append(
            {
                "run": name,
                "wall_s": round(wall, 1),
                "samples_per_s": round(steps * args.batch / seconds, 1),
            }
        )
    ref = [float(r["loss"]) for r in logs["1 rank, 1 thread"]]
    for row in rows:
        loss = [float(r["loss"]) for r in logs[row["run"]]]
        row["max_rel_loss_diff_vs_1_rank"] = max(abs(a - b) / abs(b) for a, b in zip(loss, ref, strict=True))
        row["speedup_vs_1_rank_1_thread"] = round(row["samples_per_s"] / rows[0]["samples_per_s"], 2)
    return {"size": args.size, "global_batch": args.batch, "steps": args.steps, "runs": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--embodiment", default="franka")
    p.add_argument("--task", default="lift")
    p.add_argument("--policy", default="noisy-expert")
    p.add_argument("--episodes", type=int, default=400)
    p.add_argument("--workers", type=int, default=2, help="Ray workers and torchrun ranks")
    p.add_argument("--size", default="small", help="model preset of the training runs")
    p.add_argument("--steps", type=int, default=60, help="optimizer steps per training run")
    p.add_argument("--batch", type=int, default=128, help="global batch of the training runs")
    p.add_argument("--out", type=Path, default=RESULTS / "scale_out.json")
    args = p.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        collect = collect_speed(args, Path(tmp))
        print(json.dumps(collect), flush=True)
        train = train_speed(args, Path(tmp))
        print(json.dumps(train), flush=True)
    report = {
        "command": " ".join(["python", *sys.argv]),
        "hardware": hardware_label(),
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "collect": collect,
        "train": train,
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
