"""Does the model's uncertainty predict its error? Open-loop replays of noisy-expert episodes, every row.

For each embodiment × task, noisy-expert twin episodes (64 steps, a seed split's seeds) are replayed
open loop in the learned core with ``uncertainty_samples`` stochastic copies. Four estimates are ranked
against the real error (mean of first-arm TCP and cube position errors, m, as ``cosmos3-gym validate``):

- ``model_uncertainty``: what the env reports: the checkpoint's error head where it has one
  (``cosmos3-gym calibrate-uncertainty``), else ``accumulated``;
- ``accumulated``: the current chunk's sample spread plus, in quadrature, what the chunks since the
  last anchor left;
- ``chunk_spread``: the current chunk's spread alone (what the estimate was before it carried);
- ``step``: the step index alone, the baseline any estimate that grows along a rollout has to beat.

Per row and pooled: Spearman over all steps 1..64, the mean Spearman across episodes at a fixed step
(``within_step``: which episodes are worse, time held fixed) and at step 16 (``at_16``). Results:
``results/uncertainty_<split>.json`` and ``.md``.

    python benchmarks/uncertainty.py --split report --episodes 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from hardware import hardware_label

import cosmos3_gym
from cosmos3_gym.model import checkpoint_digest
from cosmos3_gym.tasks import SPLITS, split_seeds
from cosmos3_gym.validation import metrics
from cosmos3_gym.validation.backends import LearnedBackend
from cosmos3_gym.validation.suite import twin_run

RESULTS = Path(__file__).resolve().parent / "results"
HORIZON = 64
ESTIMATES = ("model_uncertainty", "accumulated", "chunk_spread", "step")


def _at(unc: np.ndarray, err: np.ndarray, length: np.ndarray, step: int) -> float | None:
    ok = length >= step
    return metrics.correlations(unc[ok, step - 1], err[ok, step - 1])["spearman"]


def _scores(unc: np.ndarray, err: np.ndarray, length: np.ndarray) -> dict[str, float | None]:
    cal = metrics.calibration(unc, err, length)
    return {"spearman": cal["spearman"], "within_step": cal["spearman_within_step"], "at_16": _at(unc, err, length, 16)}


def row(embodiment: str, task: str, model: str, seeds: list[int], samples: int) -> dict:
    truth, starts, traj = twin_run(embodiment, task, seeds, "noisy-expert", HORIZON)
    truth.close()
    backend = LearnedBackend(embodiment, task, len(seeds), model, uncertainty_samples=samples)
    core = backend.core
    backend.start(starts)
    n = len(seeds)
    raw = {e: np.zeros((n, HORIZON)) for e in ESTIMATES}
    err = np.zeros((n, HORIZON))
    for t in range(HORIZON):
        backend.step(traj.actions[:, t])
        err[:, t] = metrics.position_error_m(truth.layout, core.state[None], traj.states[None, :, t + 1])[0]
        raw["model_uncertainty"][:, t] = core.uncertainty
        raw["accumulated"][:, t], raw["chunk_spread"][:, t], raw["step"][:, t] = core.accumulated, core.spread, t + 1
    backend.close()
    out: dict = {"embodiment": embodiment, "task": task, "episodes": n, "error_head": core.error_head is not None}
    for name, unc in raw.items():
        out[name] = _scores(unc, err, traj.length)
    out["_values"] = {"error": err, "length": traj.length, **raw}
    return out


def pooled(rows: list[dict]) -> dict:
    """The three correlations over every row's steps together."""
    err = np.concatenate([r["_values"]["error"] for r in rows])
    length = np.concatenate([r["_values"]["length"] for r in rows])
    out = {}
    for name in ESTIMATES:
        unc = np.concatenate([r["_values"][name] for r in rows])
        cal = metrics.calibration(unc, err, length)
        out[name] = {
            "spearman": cal["spearman"],
            "within_step": cal["spearman_within_step"],
            "at_16": _at(unc, err, length, 16),
        }
    return out


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def markdown(report: dict) -> str:
    lines = [
        f"# Uncertainty vs error ({report['split']} split)",
        "",
        f"Model `{report['model']}` (sha256 {report['weights_sha256'][:12]}…), "
        f"{report['uncertainty_samples']} samples, "
        f"{report['episodes']} noisy-expert episodes × {HORIZON} steps per row, open loop. Cells: Spearman over all "
        "steps / mean Spearman across episodes at a fixed step / at step 16. Command: "
        f"`{report['command']}`.",
        "",
        "| row | model_uncertainty | accumulated spread | chunk spread | step index |",
        "|---|---|---|---|---|",
    ]
    for r in [*report["rows"], {"embodiment": "all", "task": "pooled", **report["pooled"]}]:
        cells = [" / ".join(_f(r[e][k]) for k in ("spearman", "within_step", "at_16")) for e in ESTIMATES]
        lines.append(f"| {r['embodiment']} {r['task']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--split", choices=SPLITS, required=True)
    p.add_argument("--episodes", type=int, default=20, help="per embodiment × task")
    p.add_argument("--samples", type=int, default=2, help="uncertainty_samples of the learned core")
    p.add_argument("--embodiments", nargs="+", default=cosmos3_gym.list_embodiments())
    p.add_argument("--tasks", nargs="+", default=["reach", "push", "lift"])
    p.add_argument("--out", type=Path, default=None, help="default results/uncertainty_<split>.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    seeds = split_seeds(args.split, args.episodes)
    rows = []
    for emb in args.embodiments:
        for task in args.tasks:
            rows.append(row(emb, task, args.model, seeds, args.samples))
            print(emb, task, {e: rows[-1][e] for e in ESTIMATES}, flush=True)
    report = {
        "model": args.model,
        "weights_sha256": checkpoint_digest(args.model),
        "split": args.split,
        "seeds": [seeds[0], seeds[-1]],
        "episodes": args.episodes,
        "uncertainty_samples": args.samples,
        "command": f"python benchmarks/uncertainty.py --split {args.split} --episodes {args.episodes} "
        f"--samples {args.samples} --model {args.model}",
        "hardware": hardware_label(),
        "pooled": pooled(rows),
        "rows": [{k: v for k, v in r.items() if k != "_values"} for r in rows],
        "wall_s": round(time.time() - t0, 1),
    }
    out = args.out or RESULTS / f"uncertainty_{args.split}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
