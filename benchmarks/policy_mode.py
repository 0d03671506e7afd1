"""MuJoCo success of the world model's policy mode (``policy-head``) and of the planner (``planner``) on every
embodiment × task, and their decision time per step.

Each (kind, embodiment, task) row runs ``--episodes`` MuJoCo twin episodes with the seeds of ``--split``
(:mod:`cosmos3_gym.tasks.splits`) and writes ``OUT/rows/<kind>_<embodiment>_<task>.json``; a row whose file
exists with the same settings is skipped, so a stopped run continues, and two processes given different
``--embodiments`` fill one folder side by side. ``OUT/summary.json`` and ``OUT/summary.md`` gather every row
present. Decision time is the wall time of the agent's calls per step (the planner's plans amortized over
``replan`` steps), on one torch thread.

    python benchmarks/policy_mode.py --model CKPT --split select --episodes 20 --out /tmp/pm
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from hardware import hardware_label

from cosmos3_gym.embodiment import list_embodiments
from cosmos3_gym.model.checkpoint import checkpoint_digest, load_checkpoint
from cosmos3_gym.model.planner import GUARD
from cosmos3_gym.sim.policies import PolicyFactory, policy_factory
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tasks import TASKS
from cosmos3_gym.tasks.splits import split_seeds

KINDS = ("policy-head", "planner")


def run_row(factory: PolicyFactory, env: MujocoTwinEnv, seeds: list[int]) -> dict:
    """Success, per-episode outcomes (``wins``, in seed order) and decision time of one policy factory on ``env``
    over ``seeds``."""
    wins, decide, steps = [], 0.0, 0
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        agent = factory(seed)
        agent.reset(obs)
        info: dict = {}
        for _ in range(env.task.max_episode_steps):
            t0 = time.perf_counter()
            action = agent(obs)
            decide += time.perf_counter() - t0
            steps += 1
            obs, _, terminated, _, info = env.step(action)
            if terminated:
                break
        wins.append(bool(info.get("is_success")))
    ms = 1000 * decide / steps
    return {"success": float(np.mean(wins)), "episodes": len(seeds), "wins": wins, "decision_ms_per_step": ms}


def dynamics_identity(base: str, model: str, episodes: int = 5) -> dict:
    """Forward and inverse dynamics of ``model`` against ``base`` on noisy-expert twin episodes of every
    embodiment × task (the policy expert must leave them bit-identical): the largest absolute difference of
    the predicted states and actions over 16-step chunks from reset, and the two weights digests."""
    from cosmos3_gym.model.inference import ModeRunner
    from cosmos3_gym.sim.policies import make_policy

    a, b = load_checkpoint(base), load_checkpoint(model)
    worst = {"forward_dynamics": 0.0, "inverse_dynamics": 0.0}
    for name in sorted(a.stats):
        ra, rb = ModeRunner(a, name), ModeRunner(b, name)
        for task in TASKS:
            env = MujocoTwinEnv(name, task)
            for seed in split_seeds("select", episodes):
                obs, _ = env.reset(seed=seed)
                pol = make_policy("noisy-expert", env, seed)
                pol.reset(obs)
                states, raws = [obs["observation"]], []
                for _ in range(16):
                    obs, _, _, _, info = env.step(pol(obs))
                    states.append(obs["observation"])
                    raws.append(info["cosmos3_action"])
                hist, raw, goal = np.stack(states[:1])[None], np.stack(raws)[None], obs["desired_goal"][None]
                fd = [r.forward_dynamics(hist, raw, goal, task) for r in (ra, rb)]
                inv = [r.inverse_dynamics(np.stack(states)[None], goal, task) for r in (ra, rb)]
                worst["forward_dynamics"] = max(worst["forward_dynamics"], float(np.abs(fd[0] - fd[1]).max()))
                worst["inverse_dynamics"] = max(worst["inverse_dynamics"], float(np.abs(inv[0] - inv[1]).max()))
            env.close()
    return {
        "base": base,
        "model": model,
        "base_weights_sha256": checkpoint_digest(base),
        "model_weights_sha256": checkpoint_digest(model),
        "episodes_per_row": episodes,
        "max_abs_difference": worst,
    }


def summarize(out: Path) -> dict:
    rows = [json.loads(p.read_text()) for p in sorted((out / "rows").glob("*.json"))]
    summary = {"rows": rows}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = ["| kind | embodiment | task | MuJoCo success | episodes | decision ms/step |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['embodiment']} | {r['task']} | {r['success']:.2f} | {r['episodes']} | "
            f"{r['decision_ms_per_step']:.1f} |"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--split", choices=("select", "report"), required=True)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--embodiments", nargs="+", default=list_embodiments())
    p.add_argument("--tasks", nargs="+", choices=tuple(TASKS), default=list(TASKS))
    p.add_argument("--replan", type=int, default=4)
    p.add_argument("--stochastic", action="store_true", help="policy-head samples the flow's starting noise")
    p.add_argument("--samples", type=int, default=64, help="planner candidates per plan")
    p.add_argument("--iterations", type=int, default=2, help="planner MPPI rounds per plan")
    p.add_argument("--noise", type=float, default=0.1, help="planner token-noise std")
    p.add_argument("--margin", type=float, default=0.0, help="planner: return a candidate must gain over the policy's")
    p.add_argument("--guard", type=float, default=GUARD, help="planner: share of the best return that skips search")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--dynamics-base", help="also compare the dynamics with this checkpoint (dynamics_identity.json)")
    p.add_argument("--identity-episodes", type=int, default=5, help="episodes per row of that comparison")
    args = p.parse_args()
    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.model)
    seeds = split_seeds(args.split, args.episodes)
    (args.out / "rows").mkdir(parents=True, exist_ok=True)
    settings = {
        "model": str(args.model),
        "weights_sha256": checkpoint_digest(ckpt.path),
        "policy_weights_sha256": json.loads((ckpt.path / "config.json").read_text()).get("policy_weights_sha256"),
        "split": args.split,
        "seeds": [seeds[0], seeds[-1]],
        "replan": args.replan,
    }
    config_digest = hashlib.sha256((ckpt.path / "config.json").read_bytes()).hexdigest()
    for name in args.embodiments:
        for task in args.tasks:
            env = MujocoTwinEnv(name, task)
            for kind in args.kinds:
                options = {"checkpoint": ckpt, "replan": args.replan}
                if kind == "policy-head":
                    options["stochastic"] = args.stochastic
                if kind == "planner":
                    options |= {"samples": args.samples, "iterations": args.iterations, "noise": args.noise}
                    options |= {"margin": args.margin, "guard": args.guard}
                row_settings = {**settings, **{k: v for k, v in options.items() if k != "checkpoint"}}
                if kind == "planner":  # its scores are the dynamics', which the config's priors and gates change too
                    row_settings["config_sha256"] = config_digest
                path = args.out / "rows" / f"{kind}_{name}_{task}.json"
                if path.exists() and json.loads(path.read_text()).get("settings") == row_settings:
                    continue
                t0 = time.time()
                row = run_row(policy_factory(kind, env, **options), env, seeds)
                row = {"kind": kind, "embodiment": name, "task": task, **row, "wall_s": round(time.time() - t0, 1)}
                row |= {"settings": row_settings, "hardware": hardware_label("cpu")}
                path.write_text(json.dumps(row, indent=1) + "\n")
                print(f"{kind} {name} {task}: {row['success']:.2f} ({row['decision_ms_per_step']:.1f} ms/step)")
            env.close()
    summarize(args.out)
    if args.dynamics_base:
        report = dynamics_identity(args.dynamics_base, args.model, args.identity_episodes)
        report["hardware"] = hardware_label("cpu")
        (args.out / "dynamics_identity.json").write_text(json.dumps(report, indent=1) + "\n")
        print(f"dynamics vs {args.dynamics_base}: {report['max_abs_difference']}")


if __name__ == "__main__":
    main()
