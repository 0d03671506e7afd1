"""Several PPO seeds of ``rl_transfer.py``, summarized per row: mean MuJoCo success of each side and their ratio.

Runs ``rl_transfer.py`` once per seed (every argument after ``--`` is passed through; ``--seed`` and ``--out``
are set here) into ``<out>/seed<S>/``, skipping a seed whose ``rl_transfer.json`` already exists (so a stopped
run continues), then writes ``<out>/summary.json`` and ``.md``: per row and seed the MuJoCo success of the
agent trained inside the model (a) and in MuJoCo (b), their means and the ratio of the means (the Reach
target of the RL issue: (a) ≥ 0.9 of (b) on every row).

    python benchmarks/rl_seeds.py --seeds 1010 1011 1012 --out benchmarks/results/rl_reach -- \
        --rows franka-reach,ur5e-reach,widowx-reach,agibot-reach,umi-reach --num-envs 8 --steps 5000000 \
        --time-limit 120 --eval-every 0 --eval-episodes 100 --split report --workers 2 --no-progress
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_seeds(seeds: list[int], out: Path, passthrough: list[str]) -> list[dict]:
    """Each seed's ``rl_transfer.json`` (run now unless it exists)."""
    results = []
    for seed in seeds:
        folder = out / f"seed{seed}"
        if not (folder / "rl_transfer.json").exists():
            cmd = [
                sys.executable,
                str(HERE / "rl_transfer.py"),
                *passthrough,
                "--seed",
                str(seed),
                "--out",
                str(folder),
            ]
            subprocess.run(cmd, check=True)
        results.append(json.loads((folder / "rl_transfer.json").read_text()))
    return results


def summarize(results: list[dict]) -> dict:
    """Per row: each seed's (a) and (b) MuJoCo success, their means and the ratio of the means."""
    rows: dict[str, dict] = {}
    for res in results:
        for r in res["rows"]:
            row = rows.setdefault(r["row"], {"seeds": [], "model": [], "twin": [], "model_steps": [], "twin_steps": []})
            row["seeds"].append(res["seed"])
            row["model"].append(r["model_twin_success"])
            row["twin"].append(r["twin_twin_success"])
            row["model_steps"].append(r["model_steps"])
            row["twin_steps"].append(r["twin_steps"])
    for row in rows.values():
        row["model_mean"] = round(sum(row["model"]) / len(row["model"]), 3)
        row["twin_mean"] = round(sum(row["twin"]) / len(row["twin"]), 3)
        row["ratio"] = round(row["model_mean"] / row["twin_mean"], 3) if row["twin_mean"] else None
    return rows


def markdown(summary: dict, meta: dict) -> str:
    lines = [
        "# RL over several PPO seeds: trained in the world model (a) vs in MuJoCo (b), both judged on MuJoCo",
        "",
        f"PPO seeds {', '.join(map(str, meta['seeds']))}; each seed's run: `{meta['command']}`.  ",
        f"Hardware: {meta['hardware']}.",
        "",
        "| row | (a) per seed | (b) per seed | (a) mean | (b) mean | a/b | env steps (a) | env steps (b) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in summary.items():
        fmt = lambda xs: " / ".join(f"{x:.2f}" for x in xs)  # noqa: E731
        steps = lambda xs: " / ".join(f"{x / 1000:.0f}k" for x in xs)  # noqa: E731
        lines.append(
            f"| {name} | {fmt(r['model'])} | {fmt(r['twin'])} | {r['model_mean']:.2f} | {r['twin_mean']:.2f} | "
            f"{r['ratio']} | {steps(r['model_steps'])} | {steps(r['twin_steps'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", required=True, help="PPO seeds (use the report split's, 1000+)")
    p.add_argument("--out", type=Path, required=True, help="folder: seed<S>/ per seed, summary.json and .md")
    args = p.parse_args(argv[:split])
    passthrough = argv[split + 1 :]
    if any(a in ("--seed", "--out") for a in passthrough):
        raise SystemExit("rl_seeds.py sets --seed and --out itself; pass them before '--' as --seeds and --out")
    results = run_seeds(args.seeds, args.out, passthrough)
    first = results[0]
    meta = {
        "seeds": args.seeds,
        "command": first["command"].split(" --seed ")[0],
        "hardware": f"{first['hardware'].get('cpu', '?')}, torch {first['hardware'].get('torch', '?')}",
        "split": first["split"],
        "time_limit_s": first["time_limit_s"],
        "weights_sha256": first["weights_sha256"],
    }
    summary = summarize(results)
    (args.out / "summary.json").write_text(json.dumps({**meta, "rows": summary}, indent=1) + "\n")
    (args.out / "summary.md").write_text(markdown(summary, meta))
    print(markdown(summary, meta))


if __name__ == "__main__":
    main()
