"""Ablation: does the policy head read the goal? Raw goal vs goal error in the task token.

Trains two `small` models on the same Reach datasets of one embodiment (expert + noisy expert, as the
recipe collects them), identical but for ``goal_relative``, then measures on the MuJoCo twin:

- policy-head Reach success and the median final TCP-to-goal distance (held-out seeds);
- goal sensitivity: how far the first planned chunk's summed TCP motion moves when the goal is moved
  10 cm along each axis (a policy that ignores its goal scores ~0).

    python benchmarks/goal_input_ablation.py --data /tmp/cosmos3_data --embodiment franka --steps 800
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hardware import hardware_label

from cosmos3_gym.model import load_checkpoint
from cosmos3_gym.model.inference import ModeRunner
from cosmos3_gym.model.policy_agent import PolicyHeadAgent
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.training.episodes import episodes_from_datasets
from cosmos3_gym.training.trainer import TrainConfig, train

RESULTS = Path(__file__).resolve().parent / "results"
SEED0 = 60_000  # held out: training data uses seeds < 10_000


def evaluate(ckpt_path: Path, embodiment: str, episodes: int) -> dict[str, float]:
    ckpt = load_checkpoint(ckpt_path)
    env = MujocoTwinEnv(embodiment, "reach")
    agent, runner = PolicyHeadAgent(ckpt, env.emb, "reach", replan=4), ModeRunner(ckpt, env.emb)
    wins, dist, moves = 0, [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=SEED0 + i)
        hist, goal = obs["observation"][None, None], obs["desired_goal"]
        # Summed commanded translation of the first chunk (raw pose channels 0:3 of the first block, m).
        plan = [runner.policy(hist, (goal + d)[None], "reach")[0][0, :, :3].sum(0) for d in (0.1 * np.eye(3))]
        base = runner.policy(hist, goal[None], "reach")[0][0, :, :3].sum(0)
        moves.append(max(float(np.linalg.norm(p - base)) for p in plan))
        agent.reset(obs)
        info: dict = {}
        for _ in range(env.task.max_episode_steps):
            obs, _, term, _, info = env.step(agent(obs))
            if term:
                break
        wins += bool(info.get("is_success"))
        dist.append(float(np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"])))
    return {
        "reach_success": wins / episodes,
        "final_distance_cm_median": 100 * float(np.median(dist)),
        "plan_shift_cm_per_10cm_goal_move_median": 100 * float(np.median(moves)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("/tmp/cosmos3_data"), help="reproduce_default.py's --data")
    p.add_argument("--embodiment", default="franka")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: runs beside other jobs)")
    p.add_argument("--out", type=Path, default=RESULTS / "goal_input_ablation.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    paths = [str(args.data / f"{args.embodiment}_reach_{k}") for k in ("expert", "noisy-expert")]
    episodes = episodes_from_datasets(paths)
    report: dict = {"data": paths, "steps": args.steps, "hardware": hardware_label(), "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, relative in (("raw_goal", False), ("goal_error", True)):
            cfg = TrainConfig(
                steps=args.steps, warmup=100, val_every=10**9, goal_relative=relative, id_prior=True, policy_batch=32
            )
            t0 = time.time()
            path = train(episodes, Path(tmp) / name, cfg, progress=False)
            row = {"train_s": round(time.time() - t0, 1), **evaluate(path, args.embodiment, args.episodes)}
            report["variants"][name] = row
            print(name, row, flush=True)
    report["command"] = (
        f"python benchmarks/goal_input_ablation.py --data {args.data} --embodiment {args.embodiment} "
        f"--steps {args.steps} --episodes {args.episodes}"
    )
    args.out.write_text(json.dumps(report, indent=1))
    lines = [
        f"# Ablation: goal input of the task token ({args.embodiment} Reach only, {args.steps} steps, small preset)",
        "",
        f"Command: `{report['command']}`. Hardware: {report['hardware']['cpu']}, {report['hardware']['date']}.",
        f"{args.episodes} held-out twin seeds; policy head replanning every 4 steps.",
        "",
        "| task token reads | Reach success | final distance (cm, median) | plan shift per 10 cm goal move (cm) |",
        "|---|---|---|---|",
    ]
    for name, row in report["variants"].items():
        lines.append(
            f"| {name} | {100 * row['reach_success']:.0f} % | {row['final_distance_cm_median']:.1f} "
            f"| {row['plan_shift_cm_per_10cm_goal_move_median']:.1f} |"
        )
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
