"""Trace a select-split agent (a PPO run folder) inside v15 and on MuJoCo; wrote the trace_*.txt files here.

python trace.py lift RUN    # per-step TCP, gripper, cube, holding inside the model, then on MuJoCo
python trace.py reach RUN   # MuJoCo closed loop, its actions replayed open loop in the model
"""

import sys

import numpy as np
from stable_baselines3 import PPO

from cosmos3_gym.envs.learned_core import LearnedSimCore
from cosmos3_gym.sim.twin_env import MujocoTwinEnv


def lift(agent: PPO) -> None:
    env, core = MujocoTwinEnv("franka", "lift"), LearnedSimCore("franka", "lift", 1, "default", "cpu")
    lay = env.emb.layout
    for s in (200000, 200001):
        core.reset(np.arange(1), [s])
        print("seed", s, "MODEL: t tcp(xyz) width cube(xyz) holding action")
        for t in range(100):
            a, _ = agent.predict(core.obs(), deterministic=True)
            core.step(np.clip(a, -1, 1))
            core.after_step()
            st = core.state[0]
            if t % 5 == 0:
                tcp, width = lay.arm(st, "tcp_pos", 0).round(3), lay.arm(st, "gripper_width", 0).round(3)
                print(t, tcp, width, lay.get(st, "cube_pos").round(3), core.holding[0], np.round(a[0], 2))
        obs, _ = env.reset(seed=s)
        print("MUJOCO same policy closed loop")
        for t in range(100):
            a, _ = agent.predict({k: v[None] for k, v in obs.items()}, deterministic=True)
            obs, *_ = env.step(a[0])
            st = obs["observation"]
            if t % 10 == 0:
                tcp, width = lay.arm(st, "tcp_pos", 0).round(3), lay.arm(st, "gripper_width", 0).round(3)
                print(t, tcp, width, lay.get(st, "cube_pos").round(3))


def reach(agent: PPO) -> None:
    env, core = MujocoTwinEnv("franka", "reach"), LearnedSimCore("franka", "reach", 1, "default", "cpu")
    lay = env.emb.layout
    for s in range(200000, 200010):
        obs, _ = env.reset(seed=s)
        acts, tcps, joints = [], [], []
        for _ in range(50):
            a, _ = agent.predict({k: v[None] for k, v in obs.items()}, deterministic=True)
            acts.append(a[0])
            obs, *_ = env.step(a[0])
            tcps.append(obs["achieved_goal"])
            joints.append(lay.get(obs["observation"], "joint_pos"))
        goal = obs["desired_goal"]
        core.reset(np.arange(1), [s])
        replay = []
        for a in acts:
            core.step(np.clip(a[None], -1, 1))
            core.after_step()
            replay.append(core.achieved_goal(core.state)[0])
        acts, tcps, replay = np.array(acts), np.array(tcps), np.array(replay)
        err = 1000 * np.linalg.norm(tcps - replay, axis=-1)
        print(
            f"{s} final distance MuJoCo {1000 * np.linalg.norm(tcps[-1] - goal):.1f} mm, model (same actions)"
            f" {1000 * np.linalg.norm(replay[-1] - goal):.1f} mm; MuJoCo vs model at steps 10/25/50:"
            f" {err[9]:.1f} {err[24]:.1f} {err[49]:.1f} mm; mean |action| per channel {np.abs(acts).mean(0).round(2)},"
            f" share saturated {(np.abs(acts) > 0.99).mean():.2f}"
        )
    joints = np.array(joints)
    print("joint range over the last episode (rad):", joints.min(0).round(2), joints.max(0).round(2))


if __name__ == "__main__":
    task, run = sys.argv[1], sys.argv[2]
    {"lift": lift, "reach": reach}[task](PPO.load(f"{run}/final_model.zip", device="cpu"))
