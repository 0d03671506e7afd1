"""The short world-model recipe: a usable ``tiny`` model from nothing in under 20 minutes on 2 CPU cores.

The same public CLI as the full recipes (:mod:`reproduce_default`, :mod:`reproduce_v2`), scaled down:

1. ``collect``: the scripted mix at :data:`SCALE` of the full recipe's episodes plus :data:`CONTACT_EPISODES`
   ``contact-mix`` episodes per embodiment × Push / Lift (the full recipes' seeds, so its data is a subset
   of theirs), over one local Ray cluster;
2. ``train``: ``--size tiny`` from scratch, task-blind, with the held-cube prior, :data:`STEPS` steps;
3. ``calibrate-contact`` on the same data (the contact gates), then ``calibrate-id``.

No on-policy rounds and no error heads (``model_uncertainty`` is then the samples' spread). Resumable: a
complete collection is skipped, a stopped training resumes. Wall times → ``results/short_recipe.json``.

    python benchmarks/reproduce_short.py --data /tmp/short_data --out /tmp/short_model
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from reproduce_default import collect_commands
from reproduce_v2 import RESULTS, _out, cli, contact_commands, run_stage

SCALE = 0.25
CONTACT_EPISODES = 60
STEPS = 3000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="dataset folder")
    p.add_argument("--out", type=Path, required=True, help="the new checkpoint folder")
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--workers", type=int, default=2, help="Ray workers of the collections (1: serial, no Ray)")
    p.add_argument("--dry-run", action="store_true", help="print the commands and exit")
    args = p.parse_args()
    collect = [cli(*c[1:]) for c in collect_commands(args.data, SCALE)]
    collect += contact_commands(args.data, CONTACT_EPISODES)
    data = [str(_out(c)) for c in collect]
    flags = ["--size", "tiny", "--task-blind", "--object-prior", "--steps", str(args.steps), "--lr", "1e-3"]
    train = cli("train", "--data", *data, "--out", str(args.out), *flags, "--seed", "0", "--threads", "1")
    if (args.out / "config.json").is_file():
        train.append("--resume")
    gates = cli("calibrate-contact", "--model", str(args.out), "--data", *data)
    calibrate = cli("calibrate-id", "--model", str(args.out))
    stages = [("collect", collect), ("train", [train]), ("calibrate-contact", [gates]), ("calibrate", [calibrate])]
    if args.dry_run:
        for name, cmds in stages:
            print(f"# {name}\n" + "\n".join(shlex.join(["cosmos3-gym", *c[3:]]) for c in cmds))
        return
    path = RESULTS / "short_recipe.json"
    record: dict = {"command": shlex.join([sys.executable, *sys.argv]), "stages": {}}
    t_start = time.time()
    for name, cmds in stages:
        run_stage(name, cmds, name == "collect", args.workers, record, path)
    record["total_wall_s"] = round(time.time() - t_start, 1)
    path.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
