"""Sim-to-"real" transfer: agents trained inside the world model vs directly in MuJoCo, both judged on MuJoCo.

For each row (embodiment × Reach, Push, Lift) it trains (a) in the learned id and (b) in the MuJoCo twin
(SB3 DummyVecEnv; ``--vec subproc`` a process per env; ``--vec shards`` a process per core), with the same
algorithm, hyperparameters (:func:`cosmos3_gym.rl.algo_kwargs`), num_envs, PPO seed and budget, then
evaluates both on the twin (deterministic actions; success = success at the episode's last step). (a) is
also evaluated in the learned env (what the model believes). The budget is env steps (``--steps``) and,
with ``--time-limit``, training wall-clock per side as well (whichever ends first): equal steps, or
equal wall-clock. Seeds come from ``--split`` (:mod:`cosmos3_gym.tasks.splits`): ``select`` for choosing
hyperparameters, ``report`` for what README shows. Wall clock and env steps/s are for training only
(evaluation excluded). Results: ``<out>/rl_transfer.csv``, ``.json`` (hardware label, command, budgets,
hyperparameters) and ``.md``; with ``--eval-every``, ``<out>/curves/<row>.png``: MuJoCo success against
training wall-clock for both sides. Each side's run folder (``<out>/runs/<row>/{model,twin}``) keeps the
agent (``final_model.zip``) beside its ``config.json``, ``summary.json`` and ``eval.csv``.

    python benchmarks/rl_transfer.py --model default --algo ppo --steps 50000 --rows franka-reach --workers 2
    python benchmarks/rl_transfer.py --rows franka-lift --num-envs 256 --vec shards --steps 100000000 \
        --time-limit 1800 --eval-every 1000000 --split report --out benchmarks/results/rl_contact
    python benchmarks/rl_transfer.py --model /tmp/tiny --steps 2000 --rows franka-reach \
        --eval-episodes 10 --out /tmp/rlt
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import torch
from hardware import hardware_label

from cosmos3_gym.data.fanout import ordered_map, wants_ray
from cosmos3_gym.model import checkpoint_digest
from cosmos3_gym.registration import robot_name
from cosmos3_gym.rl import ALGOS, RLConfig, algo_kwargs, train_agent
from cosmos3_gym.tasks import SPLITS, rl_seeds, split_seeds

RESULTS = Path(__file__).resolve().parent / "results"
GUARDS = ("uncertainty_penalty", "ood_sigma", "imagination_horizon", "reanchor_every")
ROWS = [(emb, task) for task in ("reach", "push", "lift") for emb in ("franka", "ur5e", "widowx", "agibot", "umi")]


def row_name(emb: str, task: str) -> str:
    return f"{emb}-{task}"


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def run_row(emb: str, task: str, args: argparse.Namespace, out: Path) -> dict:
    """Train (a) in the model and (b) in the twin, evaluate both on the twin; one result row."""
    learned_id = f"Cosmos3-{robot_name(emb)}-{task.capitalize()}-v0"
    twin_id = learned_id[: -len("-v0")] + "-MuJoCo-v0"
    common = {
        "algo": args.algo,
        "steps": args.steps,
        "num_envs": args.num_envs,
        "model": args.model,
        "seed": args.seed,
        "eval_every": args.eval_every,
        "eval_episodes": args.eval_episodes,
        "eval_seed": args.eval_seed,
        "time_limit_s": args.time_limit,
        "bc_episodes": args.bc_episodes,
        "device": args.device,
        "progress": not args.no_progress,
    }
    guards = {k: v for k, v in ((g, getattr(args, g)) for g in GUARDS) if v}
    results = {}
    for side, env_id in (("model", learned_id), ("twin", twin_id)):
        extra = guards if side == "model" else {}  # guards only exist in the learned simulator
        cfg = RLConfig(env_id=env_id, out=str(out / row_name(emb, task) / side), **common, **extra)
        t0 = time.perf_counter()
        results[side] = train_agent(cfg, vec=args.vec, overwrite=True)  # a rerun replaces its rows
        results[side]["total_s"] = round(time.perf_counter() - t0, 2)
        print(
            f"  {row_name(emb, task)} [{side}] twin success {results[side]['final_eval']['twin_success_rate']:.2f} "
            f"({results[side]['env_steps_per_s']} env steps/s)",
            file=sys.stderr,
        )
    a, b = results["model"], results["twin"]
    ea, eb = a["final_eval"], b["final_eval"]
    if args.eval_every:
        plot_curves(out / row_name(emb, task), args.out / "curves" / f"{row_name(emb, task)}.png")
    return {
        "row": row_name(emb, task),
        "embodiment": emb,
        "task": task,
        "algo": args.algo,
        "steps": args.steps,
        "num_envs": args.num_envs,
        "eval_episodes": args.eval_episodes,
        "model_twin_success": ea["twin_success_rate"],
        "twin_twin_success": eb["twin_success_rate"],
        "success_ratio": _ratio(ea["twin_success_rate"], eb["twin_success_rate"]),
        "model_twin_return": round(ea["twin_mean_return"], 3),
        "twin_twin_return": round(eb["twin_mean_return"], 3),
        "return_ratio": _ratio(ea["twin_mean_return"], eb["twin_mean_return"]),
        "model_learned_success": ea.get("learned_success_rate"),
        "model_learned_return": round(ea["learned_mean_return"], 3) if "learned_mean_return" in ea else None,
        "model_train_s": a["train_wall_s"],
        "twin_train_s": b["train_wall_s"],
        "wall_ratio": _ratio(a["train_wall_s"], b["train_wall_s"]),
        "model_steps": a["num_timesteps"],
        "twin_steps": b["num_timesteps"],
        "model_steps_per_s": a["env_steps_per_s"],
        "twin_steps_per_s": b["env_steps_per_s"],
        "steps_per_s_ratio": _ratio(a["env_steps_per_s"], b["env_steps_per_s"]),
        "model_guards": " ".join(f"{k}={v}" for k, v in guards.items()) or "none",
        "model_reanchor_twin_steps": a["reanchor_twin_steps"],
        "model_total_s": a["total_s"],
        "twin_total_s": b["total_s"],
    }


MD_COLS = [
    ("row", "row"),
    ("model_guards", "guards (a)"),
    ("model_twin_success", "success (a) model→twin"),
    ("twin_twin_success", "success (b) twin"),
    ("success_ratio", "a/b"),
    ("model_twin_return", "return (a)"),
    ("twin_twin_return", "return (b)"),
    ("return_ratio", "a/b"),
    ("model_learned_success", "(a) success in model"),
    ("model_train_s", "train s (a)"),
    ("twin_train_s", "train s (b)"),
    ("wall_ratio", "a/b"),
    ("model_steps", "steps (a)"),
    ("twin_steps", "steps (b)"),
    ("model_steps_per_s", "steps/s (a)"),
    ("twin_steps_per_s", "steps/s (b)"),
    ("steps_per_s_ratio", "a/b"),
]


def plot_curves(row_dir: Path, png: Path) -> None:
    """MuJoCo success against training wall-clock (evaluation excluded) of both sides of one row, and the
    model-trained agent's success inside the model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for side, label in (("model", "(a) trained in the world model"), ("twin", "(b) trained in MuJoCo")):
        rows = list(csv.DictReader((row_dir / side / "eval.csv").open()))
        t = [float(r["train_s"]) / 60 for r in rows]
        line = ax.plot(t, [float(r["twin_success_rate"]) for r in rows], marker="o", label=label)[0]
        if side == "model":  # what the model believes: the gap to the line above is the model's error
            inside = [float(r["learned_success_rate"]) for r in rows]
            ax.plot(t, inside, ls="--", color=line.get_color(), label="(a) its success inside the model")
    ax.set(xlabel="training wall-clock (min)", ylabel="success (on MuJoCo unless marked)", ylim=(-0.02, 1.02))
    ax.set_title(row_dir.name)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def _row_task(job: tuple[str, str, argparse.Namespace]) -> dict:
    """:func:`run_row` as a Ray task (a worker process sets its own torch threads)."""
    emb, task, args = job
    torch.set_num_threads(args.threads)
    return run_row(emb, task, args, args.out / "runs")


def _jsonable(kwargs: dict) -> dict:
    """SB3 keyword arguments for the results file: classes by name, the per-embodiment feature
    statistics (hundreds of floats, from the checkpoint) summarized instead of copied."""
    out = {}
    for k, v in kwargs.items():
        if isinstance(v, type):
            v = v.__name__
        elif isinstance(v, dict):
            v = _jsonable(v)
        if k == "features_extractor_kwargs":
            v = "obs/goal standardization statistics of the checkpoint (cosmos3_gym.rl.features)"
        out[k] = v
    return out


def markdown(rows: list[dict], meta: dict) -> str:
    hw = meta["hardware"]
    lines = [
        "# RL transfer: trained in the world model (a) vs in MuJoCo (b), both evaluated on MuJoCo\n",
        f"{meta['algo']}"
        + (f" after cloning the expert on {meta['bc_episodes']} episodes" if meta.get("bc_episodes") else "")
        + f", {meta['steps']} env steps"
        + (f" or {meta['time_limit_s']} s of training per side" if meta.get("time_limit_s") else "")
        + f", {meta['num_envs']} envs, PPO seed {meta['seed']}, {meta['eval_episodes']} twin eval seeds from "
        f"{meta['eval_seeds'][0]} ({meta.get('split', 'no')} split); model `{meta['model']}`.  ",
        f"Hardware: {hw['cpu']}, {hw['cores']} cores, torch {hw['torch']} ({hw['torch_threads']} thread), "
        f"load average {meta['loadavg_start']} → {meta['loadavg_end']}, {hw['date']}.  ",
        f"Command: `{meta['command']}`\n",
        "| " + " | ".join(h for _, h in MD_COLS) + " |",
        "|" + "---|" * len(MD_COLS),
    ]
    for r in rows:
        lines.append("| " + " | ".join("–" if r[k] is None else str(r[k]) for k, _ in MD_COLS) + " |")
    return "\n".join(lines) + "\n"


def write(out: Path, rows: list[dict], meta: dict) -> None:
    """``rl_transfer.csv``, ``.json`` and ``.md`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "rl_transfer.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "rl_transfer.json").write_text(json.dumps({**meta, "rows": rows}, indent=2))
    (out / "rl_transfer.md").write_text(markdown(rows, meta))
    print(markdown(rows, meta))


def merge(folders: list[Path], out: Path) -> None:
    """One table from runs of one configuration that trained disjoint row subsets (one process each)."""
    runs = [json.loads((f / "rl_transfer.json").read_text()) for f in folders]
    same = ("algo", "steps", "num_envs", "seed", "eval_episodes", "model", "eval_seeds", "time_limit_s", "bc_episodes")
    for r in runs[1:]:
        diff = [k for k in same if r[k] != runs[0][k]]
        if diff:
            raise SystemExit(f"--merge: runs differ in {diff}; only runs of one configuration can be merged")
    order = [row_name(e, t) for e, t in ROWS]
    rows = sorted((row for r in runs for row in r["rows"]), key=lambda row: order.index(row["row"]))
    meta = {k: v for k, v in runs[0].items() if k != "rows"}
    meta["command"] = " & ".join(r["command"] for r in runs) + " (one process per core), then --merge"
    meta["loadavg_end"] = max(r["loadavg_end"] for r in runs)
    meta["total_s"] = max(r["total_s"] for r in runs)
    dates = list(dict.fromkeys(r["hardware"]["date"] for r in runs))  # runs merged later keep their own date
    meta["hardware"] = {**meta["hardware"], "date": " & ".join(dates)}
    write(out, rows, meta)


def main() -> None:
    names = [row_name(e, t) for e, t in ROWS]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default", help="world-model checkpoint (default: shipped)")
    p.add_argument("--steps", type=int, default=50_000, help="env-step budget of each training run")
    p.add_argument("--rows", default=",".join(names), help=f"comma-separated subset of {', '.join(names)}")
    p.add_argument("--algo", default="ppo", choices=ALGOS)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--eval-episodes", type=int, default=100, help="twin evaluation episodes (seeds of --split)")
    p.add_argument("--split", default="report", choices=SPLITS, help="seed split of the PPO and evaluation seeds")
    p.add_argument("--seed", type=int, default=None, help="PPO seed (default: the split's first RL seed)")
    p.add_argument("--time-limit", type=float, default=None, help="training wall-clock (s) per side, --steps a cap")
    p.add_argument("--eval-every", type=int, default=0, help="env steps between evaluations (curves); 0: end only")
    p.add_argument(
        "--bc-episodes",
        type=int,
        default=0,
        help="warm start both sides: clone the expert on N episodes of their own simulator (0: pure RL)",
    )
    p.add_argument("--vec", default="dummy", choices=("dummy", "subproc", "shards"), help="VecEnv of the twin runs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on 2 shared cores)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--uncertainty-penalty", type=float, default=0.0, help="guard of the in-model runs (a)")
    p.add_argument("--ood-sigma", type=float, default=None, help="guard of the in-model runs (a)")
    p.add_argument("--imagination-horizon", type=int, default=None, help="guard of the in-model runs (a)")
    p.add_argument(
        "--reanchor-every",
        type=int,
        default=None,
        help="guard of the in-model runs (a); its twin steps are reported as model_reanchor_twin_steps",
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for rl_transfer.{csv,json,md} and runs/")
    p.add_argument("--workers", type=int, default=1, help="rows as Ray tasks on N local CPUs (default 1: serial)")
    p.add_argument("--address", default=None, help="run the rows on this Ray cluster (default $RAY_ADDRESS)")
    p.add_argument(
        "--merge", type=Path, nargs="+", help="combine the rl_transfer.json of these run folders (rows run in parallel)"
    )
    args = p.parse_args()
    if args.merge:
        merge(args.merge, args.out)
        return
    chosen = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = sorted(set(chosen) - set(names))
    if unknown or not chosen:
        raise SystemExit(f"--rows: unknown {unknown or 'empty'}; allowed: {', '.join(names)}")
    torch.set_num_threads(args.threads)
    if args.seed is None:
        args.seed = rl_seeds(args.split, 1)[0]
    args.eval_seed = split_seeds(args.split, 1)[0]
    args.out.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    jobs = [(e, t, args) for e, t in ROWS if row_name(e, t) in chosen]
    if wants_ray(args.workers, args.address):  # one Ray task per row
        rows = list(ordered_map(_row_task, jobs, args.workers, args.address))
    else:
        rows = [run_row(e, t, args, args.out / "runs") for e, t, _ in jobs]
    first = f"Cosmos3-{robot_name(jobs[0][0])}-{jobs[0][1].capitalize()}-v0"
    cfg = RLConfig(env_id=first, algo=args.algo, steps=args.steps, num_envs=args.num_envs, seed=args.seed)
    hyper = _jsonable(algo_kwargs(cfg))
    meta = {
        "algo": args.algo,
        "steps": args.steps,
        "num_envs": args.num_envs,
        "seed": args.seed,
        "eval_episodes": args.eval_episodes,
        "split": args.split,
        "eval_seeds": [args.eval_seed, args.eval_seed + args.eval_episodes - 1],
        "time_limit_s": args.time_limit,
        "eval_every": args.eval_every,
        "bc_episodes": args.bc_episodes,
        "model": args.model,
        "weights_sha256": checkpoint_digest(args.model),
        "vec": args.vec,
        "hyperparameters": hyper,
        "command": "python " + " ".join(sys.argv),
        "workers": args.workers,
        "total_s": round(time.perf_counter() - t0, 1),
        "loadavg_start": round(load0, 2),
        "loadavg_end": round(os.getloadavg()[0], 2),
        "hardware": hardware_label(args.device),
    }
    write(args.out, rows, meta)


if __name__ == "__main__":
    main()
