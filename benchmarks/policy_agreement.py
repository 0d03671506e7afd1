"""Does the world model judge a fixed agent the way MuJoCo does?

Takes SB3 agents saved by ``rl_transfer.py`` (its ``runs/<row>/{model,twin}/final_model.zip``) and
evaluates each, unchanged, on the MuJoCo twin and inside every given checkpoint over the same seeds:
success rate and mean final goal distance. An agent trained in MuJoCo that succeeds there but not
inside a model shows where the model is wrong for the task metric, which open-loop error on expert
data can miss (a slow final approach, small corrective actions).

    python benchmarks/policy_agreement.py --row franka-reach --models v3=/tmp/v3ck v6=default \\
        --agents /tmp/rl6s1/runs/franka-reach/twin/final_model.zip ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from hardware import hardware_label
from stable_baselines3 import PPO, SAC

from cosmos3_gym.model import checkpoint_digest
from cosmos3_gym.rl.evaluate import Evaluator

RESULTS = Path(__file__).resolve().parent / "results"
SEED0 = 10_000  # rl_transfer.py's evaluation seeds


def load_agent(path: Path):
    """An SB3 agent saved by ``cosmos3-gym rl``; its run's ``config.json`` beside it names the algorithm."""
    config = path.parent / "config.json"
    if not config.is_file():
        raise SystemExit(f"{path}: no {config.name} beside it; pass final_model.zip of a 'cosmos3-gym rl' run")
    algo = json.loads(config.read_text())["algo"]
    return (PPO if algo == "ppo" else SAC).load(path, device="cpu")  # sac and sac-her act alike


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--row", required=True, help="embodiment-task, e.g. franka-reach")
    p.add_argument("--models", nargs="+", required=True, metavar="LABEL=CKPT", help="checkpoints to judge with")
    p.add_argument("--agents", nargs="+", required=True, type=Path, help="SB3 .zip files")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS / "policy_agreement.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    embodiment, task = args.row.split("-")
    models = dict(m.split("=", 1) for m in args.models)
    seeds = list(range(SEED0, SEED0 + args.episodes))
    evaluators = {label: Evaluator(embodiment, task, path) for label, path in models.items()}
    rows = []
    for agent_path in args.agents:
        agent = load_agent(agent_path)
        row = {"agent": str(agent_path), "twin": next(iter(evaluators.values())).twin(agent, seeds).as_dict()}
        for label, ev in evaluators.items():
            row[label] = ev.learned(agent, seeds).as_dict()
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {
        "row": args.row,
        "episodes": args.episodes,
        "models": {k: {"path": v, "weights_sha256": checkpoint_digest(v)} for k, v in models.items()},
        "rows": rows,
        "hardware": hardware_label(),
        "command": "python benchmarks/policy_agreement.py "
        + f"--row {args.row} --models {' '.join(args.models)} --agents {' '.join(map(str, args.agents))}",
    }
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
