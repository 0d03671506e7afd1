"""Choose the contact gate's threshold on the select split (never the report split).

For each threshold (and without a gate, and with the gate alone at :data:`GATE_ALONE`, no pusher
clearance), a copy of the checkpoint with that threshold runs the suite's ``expert`` and ``contact``
sections (:mod:`fidelity`) on Push and Lift of every embodiment, select seeds; the chosen threshold (with
the clearance) has the highest sum of the mean closed-loop expert agreement and the mean open-loop success
agreement over those rows. Writes ``results/contact_gate_select.{json,md}``.

    python benchmarks/contact_gate_select.py --model default --thresholds 0.3 0.5 0.7
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from hardware import hardware_label

from cosmos3_gym.model import checkpoint_digest
from cosmos3_gym.model.checkpoint import default_checkpoint_path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
#: The threshold of the gate-alone run (the fit's own decision point, before any choice).
GATE_ALONE = 0.5


def variant(src: Path, dst: Path, threshold: float | None, push_out: bool = True) -> Path:
    """A copy of checkpoint ``src`` whose gates use ``threshold`` (None: no gate), without their pusher
    clearance unless ``push_out``."""
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    for stats in config["stats"].values():
        if stats.get("contact_gate") is None:
            raise SystemExit(f"{src}: {stats['embodiment']} has no contact gate; run cosmos3-gym calibrate-contact")
        if threshold is None:
            stats["contact_gate"] = None
        else:
            stats["contact_gate"]["threshold"] = threshold
            if not push_out:
                stats["contact_gate"]["clearance_m"] = None
    (dst / "config.json").write_text(json.dumps(config, indent=1))
    return dst


def summarize(suite: dict) -> dict:
    """Per Push/Lift row: closed-loop agreement, open-loop agreement, contact cube error @16 (median, mm)."""
    rows = {f"{r['embodiment']}/{r['task']}": {"closed_loop": r["success_agreement"]} for r in suite["expert"]}
    for r in suite["contact"]:
        row = rows[f"{r['embodiment']}/{r['task']}"]
        row["open_loop"] = r["open_loop_success"]["success_agreement"]
        row["cube16_mm"] = round(r["contact_windows"]["overall"]["cube_pos_mm"]["16"]["median"], 2)
    means = {
        k: round(float(np.mean([v[k] for v in rows.values()])), 3) for k in ("closed_loop", "open_loop", "cube16_mm")
    }
    return {"rows": rows, "mean": means}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default", help="a checkpoint with contact gates")
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    p.add_argument("--episodes", type=int, default=50, help="expert and contact episodes per row")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    src = default_checkpoint_path() if args.model == "default" else Path(args.model)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("no gate", None, False), (f"{GATE_ALONE:g}, no push-out", GATE_ALONE, False)]
        runs += [(f"{th:g}", th, True) for th in args.thresholds]
        for name, th, push_out in runs:
            ckpt = variant(src, Path(tmp) / f"ckpt_{name.replace(' ', '_').replace(',', '')}", th, push_out)
            out = Path(f"{ckpt}.json")  # not with_suffix: names like "0.5" have a dot
            cmd = [sys.executable, str(HERE / "fidelity.py"), "--model", str(ckpt), "--sections", "expert", "contact"]
            cmd += [
                "--split",
                "select",
                "--tasks",
                "push",
                "lift",
                "--suite-out",
                str(out),
                "--workers",
                str(args.workers),
            ]
            cmd += ["--expert-episodes", str(args.episodes), "--contact-episodes", str(args.episodes)]
            subprocess.run(cmd, check=True)
            results[name] = summarize(json.loads(out.read_text()))
            print(name, results[name]["mean"], flush=True)
    gated = [f"{th:g}" for th in args.thresholds]
    best = max(gated, key=lambda k: results[k]["mean"]["closed_loop"] + results[k]["mean"]["open_loop"])
    report = {
        "model": args.model,
        "weights_sha256": checkpoint_digest(src),
        "split": "select",
        "episodes": args.episodes,
        "hardware": hardware_label(),
        "command": " ".join(["python benchmarks/contact_gate_select.py", *sys.argv[1:]]),
        "rule": "highest mean closed-loop plus mean open-loop success agreement over the Push and Lift rows",
        "chosen_threshold": float(best),
        "results": results,
    }
    (RESULTS / "contact_gate_select.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        "# Contact gate threshold, select split",
        "",
        f"`{report['command']}`; weights `{report['weights_sha256'][:12]}…`, {args.episodes} episodes per row, "
        f"{report['hardware']['cpu']}, {report['hardware']['cores']} cores. Chosen: **{best}** ({report['rule']}).",
        "",
        "Cells: closed-loop expert agreement / open-loop success agreement / contact cube error @16 (mm).",
        "",
        "| row | " + " | ".join(results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for row in results["no gate"]["rows"]:
        cells = [results[k]["rows"][row] for k in results]
        lines.append(
            f"| {row} | "
            + " | ".join(f"{c['closed_loop']:.2f} / {c['open_loop']:.2f} / {c['cube16_mm']:.1f}" for c in cells)
            + " |"
        )
    means = [results[k]["mean"] for k in results]
    lines.append(
        "| mean | "
        + " | ".join(f"{m['closed_loop']:.3f} / {m['open_loop']:.3f} / {m['cube16_mm']:.1f}" for m in means)
        + " |"
    )
    (RESULTS / "contact_gate_select.md").write_text("\n".join(lines) + "\n")
    print(f"chosen threshold {best}; wrote {RESULTS / 'contact_gate_select.json'}")


if __name__ == "__main__":
    main()
