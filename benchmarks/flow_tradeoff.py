"""Flow steps and model size against fidelity and speed (world-model issue: "state the trade-off").

1. Flow steps: the shipped checkpoint replays held-out twin Lift episodes open loop (as
   ``fidelity.py``) with 1, 2, 4, 8 Euler steps of the flow per prediction; median errors at 16 and
   64 steps, and the 256-env vector env's steps/s with the same setting.
2. Size: the tiny / small / base presets' 256-env steps/s with untrained weights (speed does not
   depend on the weights; only the shipped size was trained, so fidelity is reported for it alone).

    python benchmarks/flow_tradeoff.py --episodes 20
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from fidelity import RESULTS, SEED0, open_loop, twin_episode
from hardware import hardware_label

import cosmos3_gym
from cosmos3_gym.bench import time_vector
from cosmos3_gym.model import PRESETS, WorldModel, checkpoint_digest, load_checkpoint, save_checkpoint
from cosmos3_gym.sim.twin_env import MujocoTwinEnv

METRICS = ("tcp_pos_mm@16", "tcp_pos_mm@64", "gripper_mm@16", "cube_pos_mm@16", "cube_pos_mm@64")


def flow_rows(model: str, flow_steps: list[int], embodiments: list[str], episodes: int, seconds: float) -> list[dict]:
    """One row per flow-step setting: per-embodiment medians, their mean, and vector-env speed."""
    ckpt = load_checkpoint(model)
    eps = {}
    for name in embodiments:
        env = MujocoTwinEnv(name, "lift")
        eps[name] = [twin_episode(env, "noisy-expert", SEED0 + i) for i in range(episodes)]
    rows = []
    for k in flow_steps:
        row: dict = {"flow_steps": k}
        for name in embodiments:
            errs = open_loop(ckpt, name, "lift", eps[name], flow_steps=k)
            for m in METRICS:
                row[f"{name}:{m}"] = round(errs[m]["median"], 2)
        for m in METRICS:
            row[f"mean:{m}"] = round(sum(row[f"{n}:{m}"] for n in embodiments) / len(embodiments), 2)
        row["franka_256_steps_per_s"] = round(
            time_vector("Cosmos3-Franka-Lift-v0", 256, model, seconds=seconds, flow_steps=k)
        )
        print(json.dumps({k2: v for k2, v in row.items() if ":" not in k2 or k2.startswith("mean")}), flush=True)
        rows.append(row)
    return rows


def size_rows(model: str, seconds: float) -> list[dict]:
    """256-env steps/s of each size preset (untrained weights, the shipped checkpoint's stats)."""
    base = load_checkpoint(model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in PRESETS.items():
            net = WorldModel(replace(cfg, residual_prior=base.model.cfg.residual_prior))
            path = save_checkpoint(Path(tmp) / name, net, base.stats, {"note": "untrained, for timing only"})
            params = sum(p.numel() for p in net.parameters())
            rate = time_vector("Cosmos3-Franka-Lift-v0", 256, str(path), seconds=seconds)
            rows.append({"size": name, "params_m": round(params / 1e6, 2), "franka_256_steps_per_s": round(rate)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(report: dict) -> str:
    emb = report["embodiments"]
    lines = [
        "# Flow steps and size: fidelity against speed",
        "",
        f"Model `{report['model']}` (weights sha256 {report['weights_sha256'][:12]}…), Lift, {report['episodes']} "
        f"held-out noisy-expert episodes per embodiment (seeds from {SEED0}), open loop from true states "
        f"(starts 0/16/32). Command: `{report['command']}`. Hardware: {report['hardware']['cpu']}, "
        f"{report['hardware']['cores']} cores, torch {report['hardware']['torch']}.",
        "",
        "## Flow steps (mean over " + ", ".join(emb) + " of the per-embodiment medians)",
        "",
        "| flow steps | TCP @16 mm | TCP @64 mm | gripper @16 mm | cube @16 mm | cube @64 mm "
        "| Franka 256 envs steps/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["flow"]:
        cells = " | ".join(f"{r[f'mean:{m}']:.1f}" for m in METRICS)
        lines.append(f"| {r['flow_steps']} | {cells} | {r['franka_256_steps_per_s']} |")
    lines += [
        "",
        "## Size presets (speed only; only `small` is trained and shipped)",
        "",
        "| preset | parameters (M) | Franka 256 envs steps/s |",
        "|---|---|---|",
    ]
    lines += [f"| {r['size']} | {r['params_m']} | {r['franka_256_steps_per_s']} |" for r in report["size"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--flow-steps", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--embodiments", nargs="+", default=cosmos3_gym.list_embodiments())
    p.add_argument("--seconds", type=float, default=4.0, help="timing window per speed measurement")
    p.add_argument("--out", type=Path, default=RESULTS / "flow_tradeoff.json")
    args = p.parse_args()
    report = {
        "model": args.model,
        "weights_sha256": checkpoint_digest(args.model),
        "episodes": args.episodes,
        "embodiments": args.embodiments,
        "command": f"python benchmarks/flow_tradeoff.py --model {args.model} --episodes {args.episodes} "
        f"--flow-steps {' '.join(map(str, args.flow_steps))}",
        "hardware": hardware_label(),
        "flow": flow_rows(args.model, args.flow_steps, args.embodiments, args.episodes, args.seconds),
        "size": size_rows(args.model, args.seconds),
    }
    args.out.write_text(json.dumps(report, indent=1))
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
