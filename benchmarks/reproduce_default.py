"""Reproduce the shipped default checkpoint from scratch: collect data, train, calibrate, time each.

The recipe is the public CLI: ``cosmos3-gym collect`` for every embodiment × task × policy (two
processes at a time on a 2-core machine), one ``cosmos3-gym train`` over all datasets, then
``cosmos3-gym calibrate-id`` (the per-embodiment inverse-dynamics residual gate, by MuJoCo replay). Writes
``benchmarks/results/default_checkpoint_recipe.json`` with every command, seed and wall time.

    python benchmarks/reproduce_default.py --data /tmp/cosmos3_data --out cosmos3_gym/assets/default
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
EMBODIMENTS = ("agibot", "franka", "umi", "ur5e", "widowx")
#: (task, policy, episodes, seed offset): seeds never overlap between datasets, and all are < 10 000
#: (benchmarks evaluate on held-out seeds >= 10 000).
MIX = (
    ("reach", "expert", 30, 0),
    ("reach", "noisy-expert", 30, 100),
    ("push", "expert", 40, 200),
    ("push", "noisy-expert", 40, 300),
    ("lift", "expert", 60, 400),
    ("lift", "noisy-expert", 50, 500),
    ("lift", "random-smooth", 30, 600),
)


def collect_commands(data: Path, scale: float) -> list[list[str]]:
    cmds = []
    for i, emb in enumerate(EMBODIMENTS):
        for task, policy, episodes, offset in MIX:
            n = max(2, round(episodes * scale))
            cmds.append(
                [
                    "cosmos3-gym",
                    "collect",
                    "--embodiment",
                    emb,
                    "--task",
                    task,
                    "--policy",
                    policy,
                    "--episodes",
                    str(n),
                    "--seed",
                    str(1000 * i + offset),
                    "--overwrite",
                    "--out",
                    str(data / f"{emb}_{task}_{policy}"),
                ]
            )
    return cmds


def run(cmd: list[str]) -> float:
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.time() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("/tmp/cosmos3_data"))
    p.add_argument("--out", type=Path, default=Path("cosmos3_gym/assets/default"))
    p.add_argument("--scale", type=float, default=1.0, help="multiply every episode count (e.g. 0.1 to smoke-test)")
    p.add_argument("--steps", type=int, default=4000, help="training steps (the shipped checkpoint: 4000)")
    p.add_argument("--size", default="small")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--jobs", type=int, default=2, help="collection processes in parallel")
    p.add_argument("--skip-collect", action="store_true")
    p.add_argument(
        "--device", default="cpu", help="training device (2 CPU cores: 21 min; cuda: ~2 min before the policy windows)"
    )
    args = p.parse_args()
    collect = collect_commands(args.data, args.scale)
    t0 = time.time()
    if not args.skip_collect:
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(run, collect))
    t_collect = time.time() - t0
    train = [
        "cosmos3-gym",
        "train",
        "--data",
        *sorted(c[-1] for c in collect),
        "--out",
        str(args.out),
        "--size",
        args.size,
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--seed",
        "0",
        "--device",
        args.device,
        # The defaults of today's trainer, spelled out so that the recipe survives a change of default.
        "--policy-batch",
        "32",
        "--id-prior",
        "--goal-relative",
    ]
    t1 = time.time()
    subprocess.run(train, check=True)
    t_train = time.time() - t1
    calibrate = ["cosmos3-gym", "calibrate-id", "--model", str(args.out), "--episodes", "10", "--seed", "9000"]
    t2 = time.time()
    subprocess.run(calibrate, check=True)
    t_calibrate = time.time() - t2
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from hardware import hardware_label

    recipe = {
        "collect_commands": [shlex.join(c) for c in collect],
        "train_command": shlex.join(train),
        "collect_wall_s": round(t_collect, 1),
        "calibrate_command": shlex.join(calibrate),
        "train_wall_s": round(t_train, 1),
        "calibrate_wall_s": round(t_calibrate, 1),
        "total_wall_min": round((t_collect + t_train + t_calibrate) / 60, 1),
        "hardware": hardware_label(),
        "script": "python benchmarks/reproduce_default.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "default_checkpoint_recipe.json").write_text(json.dumps(recipe, indent=1))
    print(json.dumps({k: v for k, v in recipe.items() if "command" not in k}, indent=1))


if __name__ == "__main__":
    main()
