"""Select-split screen of a planner that plans only when the policy head's own chunk looks bad: the head's chunk
is executed when the model predicts at least THETA of the best possible discounted return for it, else the planner
plans as usual. ``python guard.py THETA OUT EMBODIMENT...`` (Lift, 20 episodes per row, shipped checkpoint)."""

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from hardware import hardware_label
from policy_mode import run_row

from cosmos3_gym.model.checkpoint import load_checkpoint
from cosmos3_gym.model.planner import PlannerAgent
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tasks.splits import split_seeds

torch.set_num_threads(1)
theta, out = float(sys.argv[1]), Path(sys.argv[2])


class StallGuard(PlannerAgent):
    def plan(self, history: np.ndarray, goal: np.ndarray) -> np.ndarray:
        proposal, _ = self.runner.policy(history[None], goal[None], self.task.name)
        if self.returns(history, goal, proposal)[0] >= theta * self.discount.sum():
            return proposal[0]
        return super().plan(history, goal)


ckpt = load_checkpoint("default")
out.mkdir(parents=True, exist_ok=True)
for name in sys.argv[3:]:
    env = MujocoTwinEnv(name, "lift")
    row = run_row(lambda seed, env=env: StallGuard(ckpt, env.emb, "lift", seed=seed), env, split_seeds("select", 20))
    row |= {"embodiment": name, "task": "lift", "theta": theta, "hardware": hardware_label("cpu")}
    (out / f"{name}_lift.json").write_text(json.dumps(row, indent=1) + "\n")
    print(name, row["success"], row["decision_ms_per_step"], flush=True)
