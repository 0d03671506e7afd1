"""Reproduce the shipped default checkpoint from scratch: collect data, train, calibrate, time each.

The recipe is the public CLI: ``cosmos3-gym collect`` for every embodiment × task × policy (two
processes at a time on a 2-core machine) and one ``cosmos3-gym train`` over all datasets; then each
round of on-policy data aggregation (:data:`ROUNDS`): ``cosmos3-gym rl`` trains a PPO Reach agent per
embodiment inside the checkpoint just trained, ``cosmos3-gym collect --policy agent`` records its
MuJoCo rollouts, and the model is trained again from scratch on everything; finally
``cosmos3-gym calibrate-id`` (the per-embodiment inverse-dynamics residual gate, by MuJoCo replay). Writes
``benchmarks/results/default_checkpoint_recipe.json`` with every command, seed and wall time.

With the same code on the same machine every stage is deterministic (collections, trainings, PPO on
one thread). The PPO agents are chaotic in the model's float rounding, though: a change of the
stepping path that keeps the math to 1e-5 (the NumPy row kernel, after v10's agents were trained)
gives different agents and a sibling checkpoint, not v10's bits (``results/experiments/v10_repro``).

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
#: On-policy aggregation rounds: (PPO seeds of the Reach agents, episodes each, seed offset). An agent
#: trained in the model drives the arm where the model errs (Franka Reach on v6: success 0.72-0.99
#: inside the model, 0.51-0.58 on MuJoCo); its MuJoCo rollouts are the data that corrects it. Round 1
#: trains in the MIX-only model (v6), round 2 in round 1's (v9); the final model (v10) sees all of it.
ROUNDS = (((100,), 40, 700), ((101, 102), 20, 800))


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


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def train_command(data: list[str], out: Path, args: argparse.Namespace) -> list[str]:
    return [
        "cosmos3-gym",
        "train",
        "--data",
        *data,
        "--out",
        str(out),
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


def round_commands(
    model: Path, work: Path, data: Path, seeds: tuple[int, ...], episodes: int, offset: int
) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """One aggregation round: (agent training commands, collection commands, their dataset folders)."""
    from cosmos3_gym import load_embodiment

    agents, collects = [], []
    for i, emb in enumerate(EMBODIMENTS):
        env = f"Cosmos3-{load_embodiment(emb).spec.gym_name}-Reach-v0"
        for k, seed in enumerate(seeds):
            run_dir = work / f"agent_{emb}_{seed}"
            agents.append(
                shlex.split(
                    f"cosmos3-gym rl --env {env} --algo ppo --steps 60000 --num-envs 8 --seed {seed} --threads 1 "
                    f"--no-progress --eval-every 0 --eval-episodes 20 --eval-seed 20000 --model {model} --out {run_dir}"
                )
            )
            collects.append(
                shlex.split(
                    f"cosmos3-gym collect --embodiment {emb} --task reach --policy agent --agent "
                    f"{run_dir / 'final_model.zip'} --episodes {episodes} --seed {1000 * i + offset + 100 * k} "
                    f"--overwrite --out {data / f'{emb}_reach_agent{seed}'}"
                )
            )
    return agents, collects, [c[-1] for c in collects]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("/tmp/cosmos3_data"))
    p.add_argument("--out", type=Path, default=Path("cosmos3_gym/assets/default"))
    p.add_argument("--scale", type=float, default=1.0, help="multiply every episode count (e.g. 0.1 to smoke-test)")
    p.add_argument("--steps", type=int, default=4000, help="training steps (the shipped checkpoint: 4000)")
    p.add_argument("--size", default="small")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--jobs", type=int, default=2, help="collection processes in parallel")
    p.add_argument("--skip-collect", action="store_true", help="reuse the scripted datasets already in --data")
    p.add_argument("--dry-run", action="store_true", help="print every command of the recipe, run nothing")
    p.add_argument("--device", default="cpu", help="training device (CPU: 16-21 min per training; cuda: minutes)")
    args = p.parse_args()
    stages = plan(args)
    if args.dry_run:
        for name, cmds in stages:
            print(f"# {name}\n" + "\n".join(shlex.join(c) for c in cmds))
        return
    wall: dict[str, float] = {}
    for name, cmds in stages:
        if name == "collect MIX" and args.skip_collect:
            continue
        t0 = time.time()
        if len(cmds) == 1:
            subprocess.run(cmds[0], check=True)  # training and calibration show their own progress
        else:  # collections and agents: one thread each, --jobs at a time
            with ThreadPoolExecutor(args.jobs) as pool:
                list(pool.map(run, cmds))
        wall[name] = round(time.time() - t0, 1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from hardware import hardware_label

    recipe = {
        "stages": [{"stage": name, "commands": [shlex.join(c) for c in cmds]} for name, cmds in stages],
        "wall_s_measured": wall,
        "total_wall_min": round(sum(wall.values()) / 60, 1),
        "hardware": hardware_label(),
        "script": "python benchmarks/reproduce_default.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "default_checkpoint_recipe.json").write_text(json.dumps(recipe, indent=1))
    print(json.dumps({k: v for k, v in recipe.items() if k != "stages"}, indent=1))


def plan(args: argparse.Namespace) -> list[tuple[str, list[list[str]]]]:
    """Every stage of the recipe in order, as (name, commands): the commands depend on paths only."""
    work = args.data / "_rounds"  # intermediate checkpoints and data agents
    collect = collect_commands(args.data, args.scale)
    stages: list[tuple[str, list[list[str]]]] = [("collect MIX", collect)]
    mix, aggregated = sorted(c[-1] for c in collect), []
    for r, (seeds, episodes, offset) in enumerate(ROUNDS):
        model = work / f"model_{r}"
        stages.append((f"train round {r} model", [train_command(mix + aggregated, model, args)]))
        agents, collects, folders = round_commands(model, work, args.data, seeds, episodes, offset)
        stages += [(f"agents of round {r + 1}", agents), (f"collect round {r + 1}", collects)]
        aggregated = sorted(aggregated + folders)  # the order the shipped checkpoint was trained with
    stages.append(("train final model", [train_command(mix + aggregated, args.out, args)]))
    stages.append(
        ("calibrate", [["cosmos3-gym", "calibrate-id", "--model", str(args.out), "--episodes", "10", "--seed", "9000"]])
    )
    return stages


if __name__ == "__main__":
    main()
