"""Diagnostic (experiments/policy_mode/select_planner_lift_v18): the planner on Lift, per select seed, with a
per-decision trace (the head's predicted return, whether the guard ran it unsearched) of its lost episodes.

    python lift_trace.py ROBOT EPISODES OUT.json FIRST_INDEX planner[,policy-head]
"""

import json
import sys

import numpy as np
import torch

from cosmos3_gym.model.planner import PlannerAgent
from cosmos3_gym.sim.policies import policy_factory
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tasks.splits import split_seeds

torch.set_num_threads(1)

robot, episodes, out, start = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
kinds = sys.argv[5].split(",")
env = MujocoTwinEnv(robot, "lift")
seeds = split_seeds("select", start + episodes)[start:]
log = []
orig_plan = PlannerAgent.plan


def plan(self, history, goal):
    ret0 = float(self.returns(history, goal, self.runner.policy(history[None], goal[None], self.task.name)[0])[0])
    chunk = orig_plan(self, history, goal)
    log.append(
        {"t": int(self.t), "proposal_return": round(ret0, 3), "guard": bool(ret0 >= self.guard * self.discount.sum())}
    )
    return chunk


PlannerAgent.plan = plan
res = {"robot": robot, "seeds": [seeds[0], seeds[-1]], "episodes": {}}
for kind in kinds:
    fac = policy_factory(kind, env)
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        agent = fac(seed)
        agent.reset(obs)
        log.clear()
        steps = []
        info = {}
        for _ in range(env.task.max_episode_steps):
            action = agent(obs)
            obs, r, term, _, info = env.step(action)
            o = obs["observation"]
            steps.append({"grip": float(action[-1]), "cube_z": float(obs["achieved_goal"][2]), "r": round(float(r), 3)})
            if term:
                break
        ok = bool(info.get("is_success"))
        res["episodes"].setdefault(str(seed), {})[kind] = ok
        if kind == "planner":
            res["episodes"][str(seed)]["trace"] = {"decisions": list(log), "steps": steps} if not ok else None
        print(kind, seed, ok, flush=True)
    print(kind, np.mean([v[kind] for v in res["episodes"].values()]), flush=True)
json.dump(res, open(out, "w"), indent=0)
