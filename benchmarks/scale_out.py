"""Scale-out speed-ups on this machine: Ray collection against serial, DDP training against one rank.

1. ``collect``: the same episodes collected serially and with ``--workers N`` (Ray started on demand,
   its start-up included in the time), at two sizes; episodes/s of each, the speed-up, whether the two
   datasets are byte-identical, and the marginal rates between the two sizes (start-up cancelled).
2. ``train``: ``cosmos3-gym train`` for a fixed number of optimizer steps with one process (1 and N torch
   threads) and with ``torchrun --nproc-per-node N`` (gloo, one thread per rank), the same global batch;
   training samples/s from each run's ``train_log.csv`` (between its first and last logged step, so
   start-up and data loading are excluded), and the largest per-step loss difference to the one-rank run.

Results: ``results/scale_out.json`` with the hardware label and the load average before and after (other
work on this shared 2-core machine slows every number).

    python benchmarks/scale_out.py --episodes 600 --episodes-short 100 --steps 60
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
    """Serial and Ray collection of ``--episodes`` and of ``--episodes-short`` episodes: end-to-end rates, and
    the marginal rate (the extra episodes over the extra time), which cancels the fixed start-up costs
    (interpreter, imports, Ray and its workers) and is what a long collection runs at."""
    base = [sys.executable, "-m", "cosmos3_gym", "collect", "--embodiment", args.embodiment, "--task", args.task]
    base += ["--policy", args.policy]
    row: dict = {"embodiment": args.embodiment, "task": args.task, "policy": args.policy, "workers": args.workers}
    seconds: dict[tuple[str, int], float] = {}
    for n in (args.episodes_short, args.episodes):
        for side, extra in (("serial", []), ("ray", ["--workers", str(args.workers)])):
            seconds[side, n] = _run([*base, "--episodes", str(n), *extra, "--out", str(tmp / f"{side}{n}")])
        row[f"episodes_{n}"] = {
            "serial_s": round(seconds["serial", n], 2),
            "ray_s": round(seconds["ray", n], 2),
            "serial_episodes_per_s": round(n / seconds["serial", n], 2),
            "ray_episodes_per_s": round(n / seconds["ray", n], 2),
            "speedup": round(seconds["serial", n] / seconds["ray", n], 2),
            "datasets_identical": _files(tmp / f"serial{n}") == _files(tmp / f"ray{n}"),
        }
    extra = args.episodes - args.episodes_short
    rate = {
        side: extra / (seconds[side, args.episodes] - seconds[side, args.episodes_short]) for side in ("serial", "ray")
    }
    row["marginal"] = {
        "serial_episodes_per_s": round(rate["serial"], 2),
        "ray_episodes_per_s": round(rate["ray"], 2),
        "speedup": round(rate["ray"] / rate["serial"], 2),
    }
    return row


def _log(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def train_speed(args: argparse.Namespace, tmp: Path) -> dict:
    data = tmp / f"serial{args.episodes}"
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
    p.add_argument("--episodes", type=int, default=600, help="episodes of the long collections")
    p.add_argument("--episodes-short", type=int, default=100, help="episodes of the short collections")
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
