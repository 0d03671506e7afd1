"""The world-model v2 recipe: v10's scripted data plus contact-rich data, fine-tuned from a v10 build.

Stages (each skipped when its output is already complete, so a stopped run continues where it was):

1. ``mix``: the scripted datasets of :mod:`reproduce_default` (1400 episodes, seeds < 10 000);
2. ``contact``: ``cosmos3-gym collect --policy contact-mix`` on Push and Lift for every embodiment
   (:data:`CONTACT_EPISODES` each, seeds 10 000–19 999): carries to many heights, drops, pushes from many
   angles and speeds, a gripper passing near the cube (:mod:`cosmos3_gym.sim.contact_policies`);
3. ``train``: ``cosmos3-gym train --init-from BASE --task-blind --object-prior`` on all of it: the base's
   weights and normalization, dynamics that no longer read the task, the held-cube prior;
4. ``calibrate``: ``cosmos3-gym calibrate-id`` (inverse-dynamics residual gates, MuJoCo replay);
5. ``calibrate-contact``: ``cosmos3-gym calibrate-contact`` on the same data (the contact gates: a cube
   that nothing touches keeps its pose; 1 min);
6. ``calibrate-fd``: ``cosmos3-gym calibrate-fd`` (each embodiment's TCP prior, table stop, share of the learned TCP
   residual and finger servo, by open-loop MuJoCo replay on select seeds);
7. ``calibrate-uncertainty``: ``cosmos3-gym calibrate-uncertainty`` (the error heads behind the envs'
   ``model_uncertainty``, fitted on MuJoCo replays of training-range seeds of the gated model; 6 min).

``BASE`` is the v10 checkpoint, kept in ``results/experiments/v10/checkpoint``
(``benchmarks/reproduce_default.py`` builds a sibling of it, 65 min). Collections run one after another,
each fanning its episodes out over one Ray cluster that the recipe starts for the collection stages
(``ray start --head``; every ``collect`` joins it with ``--address``, so Ray starts once); with
``--workers 1`` they run serially without Ray. Training runs on one torch thread (two threads beside
another process on this 2-core machine ran 30× slower). Wall times go to ``results/v2_recipe.json``.

    python benchmarks/reproduce_v2.py --base benchmarks/results/experiments/v10/checkpoint \
        --data /tmp/cosmos3_data --out /tmp/v12
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from reproduce_default import EMBODIMENTS, collect_commands

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: contact-mix episodes per embodiment × task (Push, Lift).
CONTACT_EPISODES = 300
CONTACT_SEED0 = 10_000


def cli(*args: str) -> list[str]:
    """A ``cosmos3-gym`` command run as ``python -m cosmos3_gym.cli`` from the repository root (this
    checkout's code, whatever is installed)."""
    return [sys.executable, "-m", "cosmos3_gym.cli", *args]


def contact_commands(data: Path, episodes: int) -> list[list[str]]:
    cmds = []
    for i, emb in enumerate(EMBODIMENTS):
        for j, task in enumerate(("push", "lift")):
            seed = CONTACT_SEED0 + 1000 * i + 500 * j
            out = data / f"{emb}_{task}_contact-mix"
            args = ["--embodiment", emb, "--task", task, "--policy", "contact-mix", "--episodes", str(episodes)]
            cmds.append(cli("collect", *args, "--seed", str(seed), "--overwrite", "--out", str(out)))
    return cmds


def _out(cmd: list[str]) -> Path:
    return Path(cmd[cmd.index("--out") + 1])


def _complete(cmd: list[str]) -> bool:
    """A collection is complete when its dataset holds the episodes asked for."""
    info = _out(cmd) / "meta" / "info.json"
    if not info.is_file():
        return False
    return json.loads(info.read_text()).get("total_episodes") == int(cmd[cmd.index("--episodes") + 1])


def run_collections(cmds: list[list[str]], address: str | None) -> None:
    """The incomplete collections, one after another; on the Ray cluster at ``address`` if given."""
    for cmd in cmds:
        if not _complete(cmd):
            extra = ["--workers", "2", "--address", address] if address else []
            subprocess.run([*cmd, *extra], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def ray_cluster(workers: int) -> Iterator[str | None]:
    """A local Ray head with ``workers`` CPUs for the block (its address), or None for ``workers`` 1."""
    if workers <= 1:
        yield None
        return
    ray = [sys.executable, "-m", "ray.scripts.scripts"]
    start = [*ray, "start", "--head", f"--num-cpus={workers}", "--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run(start, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        yield "auto"  # Ray's convention: the cluster started on this machine
    finally:
        subprocess.run([*ray, "stop"], check=False, stdout=subprocess.DEVNULL)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="the v10-recipe checkpoint to start from")
    p.add_argument("--data", type=Path, required=True, help="dataset folder (shared with reproduce_default)")
    p.add_argument("--out", type=Path, required=True, help="the new checkpoint folder")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--contact-episodes", type=int, default=CONTACT_EPISODES)
    p.add_argument("--workers", type=int, default=2, help="Ray workers of each collection (1: serial, no Ray)")
    p.add_argument("--dry-run", action="store_true", help="print the commands and exit")
    args = p.parse_args()
    mix = [cli(*c[1:]) for c in collect_commands(args.data, 1.0)]
    contact = contact_commands(args.data, args.contact_episodes)
    data = [str(_out(c)) for c in mix + contact]
    flags = [
        "--init-from",
        args.base,
        "--task-blind",
        "--object-prior",
        "--steps",
        str(args.steps),
        "--lr",
        str(args.lr),
    ]
    train = cli("train", "--data", *data, "--out", str(args.out), *flags, "--seed", "0", "--threads", "1")
    if (args.out / "config.json").is_file():
        train.append("--resume")
    calibrate = cli("calibrate-id", "--model", str(args.out))
    gates = cli("calibrate-contact", "--model", str(args.out), "--data", *data)
    priors = ("commanded", "kinematic", "servo", "kinematic+table", "servo+table")
    tcp = cli("calibrate-fd", "--model", str(args.out), "--priors", *priors, "--fingers")
    uncertainty = cli("calibrate-uncertainty", "--model", str(args.out))
    stages = [("mix", mix), ("contact", contact), ("train", [train]), ("calibrate", [calibrate])]
    stages += [("calibrate-contact", [gates]), ("calibrate-fd", [tcp]), ("calibrate-uncertainty", [uncertainty])]
    if args.dry_run:
        for name, cmds in stages:
            print(f"# {name}\n" + "\n".join(shlex.join(["cosmos3-gym", *c[3:]]) for c in cmds))
        return
    path = RESULTS / "v2_recipe.json"
    record = {"command": shlex.join([sys.executable, *sys.argv]), "stages": {}}
    if path.is_file():  # a continued run keeps the wall times of the stages it finds complete
        record["stages"] = json.loads(path.read_text()).get("stages", {})
    for name, cmds in stages:
        if name in ("mix", "contact") and all(_complete(c) for c in cmds) and name in record["stages"]:
            continue
        run_stage(name, cmds, name in ("mix", "contact"), args.workers, record, path)


def run_stage(name: str, cmds: list[list[str]], collect: bool, workers: int, record: dict, path: Path) -> None:
    """Run one stage (``collect``: its incomplete collections on a local Ray cluster of ``workers``; else its
    one command), add its commands and wall time to ``record["stages"]`` and write ``record`` to ``path``."""
    t0 = time.time()
    if collect:
        with ray_cluster(workers) as address:
            run_collections(cmds, address)
    else:
        subprocess.run(cmds[0], check=True, cwd=ROOT)
    record["stages"][name] = {"commands": [shlex.join(["cosmos3-gym", *c[3:]]) for c in cmds],
                              "wall_s": round(time.time() - t0, 1)}  # fmt: skip
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{name}: {record['stages'][name]['wall_s']} s", flush=True)


if __name__ == "__main__":
    main()
