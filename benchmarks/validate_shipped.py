"""Validate a checkpoint on the Lift task of all five embodiments, with a summary across embodiments.

Runs :func:`cosmos3_gym.validate` (open and closed loop, per-horizon errors, policy ranking, held-out
scenarios, inverse-dynamics replay, uncertainty calibration) for ``Cosmos3-<Robot>-Lift-v0`` and writes
each full report to ``<out>/<embodiment>/`` plus ``<out>/summary.md`` and ``<out>/summary.json`` (with the
hardware label). Seeds are held out (>= 100 000; the training data uses seeds < 10 000).

    python benchmarks/validate_shipped.py --model default --episodes 50
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from hardware import hardware_label

import cosmos3_gym
from cosmos3_gym.model import checkpoint_digest
from cosmos3_gym.registration import robot_name
from cosmos3_gym.validation.api import DEFAULT_SEED

RESULTS = Path(__file__).resolve().parent / "results" / "validation"


def _median(report: dict, mode: str, quantity: str, horizon: str) -> float | None:
    cell = report[mode]["errors"][quantity].get(horizon)
    return None if cell is None else cell["median"]


def summarize(name: str, r: dict) -> dict:
    """The row of one embodiment in the cross-embodiment summary."""
    ol, cl = r["open_loop"], r["closed_loop"]
    row = {"embodiment": name, "env_id": r["env_id"], "episodes": r["episodes"], "horizon": r["horizon"]}
    for q in ("tcp_pos_mm", "tcp_rot_deg", "gripper_mm", "cube_pos_mm", "cube_rot_deg", "joint_pos_rad"):
        for h in ("1", "16", "64"):
            row[f"open_{q}@{h}"] = _median(r, "open_loop", q, h)
    row.update(
        {
            "closed_success_mujoco": cl["outcome"]["success_mujoco"],
            "closed_success_model": cl["outcome"]["success_model"],
            "closed_success_agreement": cl["outcome"]["success_agreement"],
            "closed_return_gap": cl["outcome"]["return_gap"],
            "open_success_agreement": ol["outcome"]["success_agreement"],
        }
    )
    rk = r["ranking"]
    row["ranking_spearman_success"] = rk.get("success", {}).get("spearman")
    row["ranking_spearman_return"] = rk.get("return", {}).get("spearman")
    row["id_tcp_error_mm"] = r["inverse_dynamics"].get("tcp_error_mm", {}).get("median")
    row["calibration_spearman"] = r["calibration"].get("spearman")
    row["calibration_spearman_within_step"] = r["calibration"].get("spearman_within_step")
    for s in r["scenarios"]["rows"]:
        row[f"scenario_{s['scenario']}_cube_pos_mm"] = s["errors"]["cube_pos_mm"]["median"]
        row[f"scenario_{s['scenario']}_tcp_pos_mm"] = s["errors"]["tcp_pos_mm"]["median"]
    row["wall_s"] = r["wall_s"]
    return row


def _f(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def markdown(summary: dict) -> str:
    rows = summary["rows"]
    h = summary["horizon"]
    lines = [
        f"# Validation of `{summary['model']}` on the Lift task, all embodiments",
        "",
        f"Policy `{summary['policy']}`, {summary['episodes']} episodes × {h} steps per embodiment, seeds from "
        f"{summary['seed']} (held out). Weights sha256 {summary['weights_sha256'][:12]}…. "
        f"Command: `{summary['command']}`. Hardware: {summary['hardware']['cpu']}, "
        f"{summary['hardware']['cores']} cores, torch {summary['hardware']['torch']}, mujoco "
        f"{summary['hardware']['mujoco']}. Full reports: `<embodiment>/report.md`.",
        "",
        "## Open loop (median error at 1 / 16 / 64 steps)",
        "",
        "| embodiment | TCP pos (mm) | TCP rot (deg) | gripper (mm) | cube pos (mm) | cube rot (deg) | joints (rad) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            " / ".join(_f(r[f"open_{q}@{k}"], 3 if q == "joint_pos_rad" else 1) for k in ("1", "16", "64"))
            for q in ("tcp_pos_mm", "tcp_rot_deg", "gripper_mm", "cube_pos_mm", "cube_rot_deg", "joint_pos_rad")
        ]
        lines.append(f"| [{r['embodiment']}]({r['embodiment']}/report.md) | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Closed loop, ranking, inverse dynamics, calibration",
        "",
        "| embodiment | success MuJoCo | success model | agreement | return gap | ranking Spearman (success / "
        "return) | ID TCP error (mm) | Spearman(uncertainty, error) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['embodiment']} | {r['closed_success_mujoco']:.2f} | {r['closed_success_model']:.2f} | "
            f"{r['closed_success_agreement']:.2f} | {r['closed_return_gap']:+.2f} | "
            f"{_f(r['ranking_spearman_success'], 2)} / {_f(r['ranking_spearman_return'], 2)} | "
            f"{_f(r['id_tcp_error_mm'])} | {_f(r['calibration_spearman'], 2)} |"
        )
    scen = (
        [
            k[len("scenario_") : -len("_cube_pos_mm")]
            for k in rows[0]
            if k.endswith("_cube_pos_mm") and k.startswith("scenario_")
        ]
        if rows
        else []
    )
    lines += [
        "",
        "## Out of distribution: cube / TCP position error (mm, median) at 16 steps",
        "",
        "| embodiment | " + " | ".join(scen) + " |",
        "|---|" + "---|" * len(scen),
    ]
    for r in rows:
        lines.append(
            f"| {r['embodiment']} | "
            + " | ".join(f"{_f(r[f'scenario_{s}_cube_pos_mm'])} / {_f(r[f'scenario_{s}_tcp_pos_mm'])}" for s in scen)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default", help="checkpoint folder (default: the shipped model)")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--horizon", type=int, default=64)
    p.add_argument("--policy", default="expert")
    p.add_argument("--ranking-episodes", type=int, default=None, help="default --episodes")
    p.add_argument("--scenario-episodes", type=int, default=None, help="default --episodes")
    p.add_argument("--embodiments", nargs="+", default=cosmos3_gym.list_embodiments())
    p.add_argument("--video-episodes", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    t0 = time.time()
    for name in args.embodiments:
        env_id = f"Cosmos3-{robot_name(name)}-Lift-v0"
        print(f"{env_id} ...", flush=True)
        report = cosmos3_gym.validate(
            env_id,
            args.model,
            args.policy,
            args.episodes,
            args.horizon,
            args.out / name,
            seed=args.seed,
            device=args.device,
            ranking_episodes=args.ranking_episodes,
            scenario_episodes=args.scenario_episodes,
            video_episodes=args.video_episodes,
            progress=True,
        )
        rows.append(summarize(name, report))
        print(json.dumps({k: v for k, v in rows[-1].items() if "@" not in k and "scenario" not in k}), flush=True)
    summary = {
        "model": args.model,
        "weights_sha256": checkpoint_digest(args.model),
        "policy": args.policy,
        "episodes": args.episodes,
        "horizon": args.horizon,
        "seed": args.seed,
        "command": "python benchmarks/validate_shipped.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "hardware": hardware_label(args.device),
        "wall_s": round(time.time() - t0, 1),
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    (args.out / "summary.md").write_text(markdown(summary))
    print(f"wrote {args.out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
