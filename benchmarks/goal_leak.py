"""Does forward dynamics depend on the goal? It must not: physics does not know the task's goal.

For held-out Reach episodes of each embodiment (noisy expert on the twin), predicts the TCP 16 steps
ahead open loop from the true start with the true goal and with the goal moved 10 cm along x, y and z;
reports the median TCP error against MuJoCo and how far the prediction moves with the goal.

    python benchmarks/goal_leak.py --model default --label v3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from hardware import hardware_label

import cosmos3_gym
from cosmos3_gym.model import checkpoint_digest, load_checkpoint
from cosmos3_gym.model.inference import ModeRunner
from cosmos3_gym.sim.policies import make_policy
from cosmos3_gym.sim.twin_env import MujocoTwinEnv

RESULTS = Path(__file__).resolve().parent / "results"
SEED0 = 70_000  # held out: training data uses seeds < 10_000


def leak(ckpt, embodiment: str, episodes: int, policy: str) -> dict[str, float]:
    env, runner = MujocoTwinEnv(embodiment, "reach"), ModeRunner(ckpt, embodiment)
    tcp = runner.prior.pos[0]
    errors, shifts = [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=SEED0 + i)
        act = make_policy(policy, env, SEED0 + i)
        if hasattr(act, "reset"):
            act.reset(obs)
        states, raws = [obs["observation"]], []
        for _ in range(runner.chunk):
            obs, _, _, _, info = env.step(act(obs))
            states.append(obs["observation"])
            raws.append(info["cosmos3_action"])
        states, raws, goal = np.array(states), np.array(raws)[None], obs["desired_goal"]
        base = runner.forward_dynamics(states[None, :1], raws, goal[None], "reach")[0, -1, tcp]
        errors.append(1e3 * np.linalg.norm(base - states[-1, tcp]))
        for d in 0.1 * np.eye(3):
            moved = runner.forward_dynamics(states[None, :1], raws, (goal + d)[None], "reach")[0, -1, tcp]
            shifts.append(1e3 * np.linalg.norm(moved - base))
    return {
        "tcp_mm@16_median": float(np.median(errors)),
        "shift_mm_per_10cm_goal_move_median": float(np.median(shifts)),
        "shift_mm_per_10cm_goal_move_max": float(np.max(shifts)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--label", required=True, help="name of this checkpoint in the results file")
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--policy", default="noisy-expert")
    p.add_argument("--out", type=Path, default=RESULTS / "goal_leak.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.model)
    rows = {name: leak(ckpt, name, args.episodes, args.policy) for name in cosmos3_gym.list_embodiments()}
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report[args.label] = {
        "weights_sha256": checkpoint_digest(args.model),
        "command": f"python benchmarks/goal_leak.py --model {args.model} --label {args.label} "
        f"--episodes {args.episodes} --policy {args.policy}",
        "hardware": hardware_label(),
        "embodiments": rows,
    }
    args.out.write_text(json.dumps(report, indent=1))
    for name, row in rows.items():
        print(args.label, name, {k: round(v, 1) for k, v in row.items()})


if __name__ == "__main__":
    main()
