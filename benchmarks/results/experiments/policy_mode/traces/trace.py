"""Trace one select-split episode (seed 200001) of the scripted expert and of the policy head on the MuJoCo twin:
TCP, cube, goal and action every 8 steps. ``python trace.py CKPT EMBODIMENT TASK``."""

import sys

import numpy as np
import torch

from cosmos3_gym.model.checkpoint import load_checkpoint
from cosmos3_gym.model.policy_agent import PolicyHeadAgent
from cosmos3_gym.sim.experts import make_expert
from cosmos3_gym.sim.twin_env import MujocoTwinEnv

torch.set_num_threads(1)

ck = load_checkpoint(sys.argv[1])
emb, task = sys.argv[2], sys.argv[3]
env = MujocoTwinEnv(emb, task)
L = env.layout
for who in ["expert", "policy"]:
    obs, _ = env.reset(seed=200001)
    ag = make_expert(env) if who == "expert" else PolicyHeadAgent(ck, env.emb, task, replan=4)
    ag.reset(obs)
    for t in range(env.task.max_episode_steps):
        a = ag(obs)
        if t % 8 == 0:
            s = obs["observation"]
            print(
                who,
                t,
                "tcp",
                np.round(L.get(s, "tcp_pos")[:3], 3),
                "cube",
                np.round(obs["achieved_goal"], 3),
                "goal",
                np.round(obs["desired_goal"], 3),
                "a",
                np.round(a[:7], 2),
            )
        obs, _, term, _, info = env.step(a)
    print(who, "success", info["is_success"])
