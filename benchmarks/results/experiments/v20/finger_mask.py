"""Diagnostic (experiments/v20): does a Push agent break on MuJoCo's finger channels? Its MuJoCo success on the
select seeds, raw and with the finger channels (opening, finger joints and speeds) replaced by the model's
closed-at-rest values whenever the agent last commanded the gripper closed.

    python benchmarks/results/experiments/v20/finger_mask.py AGENT.zip MODEL_DIR EPISODES OUT.json
"""

import json
import sys

import numpy as np
from stable_baselines3 import PPO

from cosmos3_gym.envs.learned_env import LearnedEnv
from cosmos3_gym.sim.twin_env import MujocoTwinEnv

agent, model, episodes, out = PPO.load(sys.argv[1], device="cpu"), sys.argv[2], int(sys.argv[3]), sys.argv[4]
learned = LearnedEnv("franka", "push", model=model)
obs, _ = learned.reset(seed=5)
for _ in range(10):  # fingers closed, arm still, nothing near
    obs, *_ = learned.step(np.array([0, 0, 0, 0, 0, 0, -1.0]))
rest = obs["observation"].copy()
twin = MujocoTwinEnv("franka", "push")
lay, servo = twin.layout, learned.unwrapped.core.prior.finger_servos[0]
cols = np.r_[lay.parts["gripper_width"].start, lay.parts["joint_pos"].start + servo.qadr]
cols = np.r_[cols, lay.parts["joint_vel"].start + servo.dadr]
result = {"agent": sys.argv[1], "model": model, "seeds": f"200000-{200000 + episodes - 1}"}
for mask in (False, True):
    wins = 0
    for ep in range(episodes):
        obs, _ = twin.reset(seed=200000 + ep)
        command = -1.0
        for _ in range(100):
            seen = {k: v.copy() for k, v in obs.items()}
            if mask and command <= 0:
                seen["observation"][cols] = rest[cols]
            action, _ = agent.predict(seen, deterministic=True)
            command = action[6]
            obs, _, terminated, truncated, info = twin.step(action)
            if terminated or truncated:
                break
        wins += bool(info["is_success"])
    result["masked" if mask else "raw"] = wins / episodes
print(result)
with open(out, "w") as f:
    json.dump(result, f, indent=1)
