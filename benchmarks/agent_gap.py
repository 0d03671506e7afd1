"""Where does a model-trained agent's behaviour part between the world model and MuJoCo?

Runs one SB3 agent (deterministic) from the same reset seeds in the MuJoCo twin and in the learned env,
and per seed reports the final goal distance on each side, the final goal error vector (mm) and the
mean |action| per channel over the last ``--tail`` steps: an agent that succeeds inside the model but
not on MuJoCo shows which of its commands the model answers differently.

    python benchmarks/agent_gap.py --agent RUN/final_model.zip --env Cosmos3-Franka-Reach-v0 --seeds 10000 10008
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import cosmos3_gym  # noqa: F401  (registers the ids)
from cosmos3_gym.sim.agents import load_sb3_policy

RESULTS = Path(__file__).resolve().parent / "results"


def episode(env: gym.Env, agent: object, seed: int, tail: int) -> dict:
    obs, _ = env.reset(seed=seed)
    actions = []
    done = False
    while not done:
        action, _ = agent.predict(obs, deterministic=True)
        actions.append(action)
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    error = obs["achieved_goal"] - obs["desired_goal"]
    return {
        "final_distance_m": round(float(np.linalg.norm(error)), 4),
        "final_error_mm": np.round(error * 1000, 1).tolist(),
        "tail_mean_abs_action": np.round(np.abs(np.asarray(actions[-tail:], dtype=np.float64)).mean(0), 3).tolist(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agent", required=True, help="stable-baselines3 .zip")
    p.add_argument("--env", required=True, help="learned id, e.g. Cosmos3-Franka-Reach-v0")
    p.add_argument("--model", default="default")
    p.add_argument("--seeds", type=int, nargs=2, default=(10000, 10008), metavar=("FIRST", "STOP"))
    p.add_argument("--tail", type=int, default=10, help="last steps whose actions are averaged")
    p.add_argument("--out", type=Path, default=RESULTS / "agent_gap.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    twin = gym.make(args.env.replace("-v0", "-MuJoCo-v0"))
    learned = gym.make(args.env, model=args.model, uncertainty_samples=0)
    agent = load_sb3_policy(args.agent, twin.unwrapped)
    rows = [
        {"seed": s, "mujoco": episode(twin, agent, s, args.tail), "model": episode(learned, agent, s, args.tail)}
        for s in range(*args.seeds)
    ]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from hardware import hardware_label

    report = {
        "agent": args.agent,
        "env": args.env,
        "model": args.model,
        "command": "python benchmarks/agent_gap.py " + " ".join(sys.argv[1:]),
        "hardware": hardware_label(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    for r in rows:
        tw, md = r["mujoco"], r["model"]
        print(
            f"seed {r['seed']}: MuJoCo {tw['final_distance_m']:.3f} m, model {md['final_distance_m']:.3f} m; "
            f"|a| last {args.tail}: MuJoCo {tw['tail_mean_abs_action']} model {md['tail_mean_abs_action']}"
        )


if __name__ == "__main__":
    main()
