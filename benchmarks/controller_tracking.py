"""Controller tracking: how close does the twin's controller get to the pose its logged Cosmos3 action names?

For every embodiment and each data-collection policy (expert, noisy-expert, random-smooth) on the
Lift twin, each step's logged ``info["cosmos3_action"]`` is replayed through the contract
(``actions_to_poses``) from the TCP pose before the step and compared with the pose the controller
reached (position mm, rotation deg; the worst pose block of the step). This is the floor under every
"action → next pose" prediction: where the controller cannot follow (joint or velocity limits), the
commanded pose and the reached pose part.

    python benchmarks/controller_tracking.py --episodes 10
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
from hardware import hardware_label

import cosmos3_gym
from cosmos3_gym.embodiment.kinematics import site_pose
from cosmos3_gym.registration import robot_name
from cosmos3_gym.sim.policies import make_policy
from cosmos3_gym.tokens.rotation import rotation_angle

RESULTS = Path(__file__).resolve().parent / "results"
SEED0 = 50_000  # held out, as in fidelity.py


def tracking_errors(name: str, policy: str, episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-step (position m, rotation rad) replay errors over ``episodes`` Lift episodes of ``policy``."""
    env = gym.make(f"Cosmos3-{robot_name(name)}-Lift-MuJoCo-v0").unwrapped
    emb, ctrl = env.emb, env.controller
    pos, rot = [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=SEED0 + ep)
        act = make_policy(policy, env, SEED0 + ep)
        act.reset(obs)
        for _ in range(env.task.max_episode_steps):
            before = np.stack([site_pose(env.data, s) for s in ctrl.block_sites])
            obs, _, term, _, info = env.step(act(obs))
            after = np.stack([site_pose(env.data, s) for s in ctrl.block_sites])
            start = before[0] if emb.num_poses == 1 else before
            replay = emb.actions_to_poses(info["cosmos3_action"][None], start)[1]
            replay = replay[None] if emb.num_poses == 1 else replay
            pos.append(np.linalg.norm(replay[:, :3, 3] - after[:, :3, 3], axis=-1).max())
            rot.append(rotation_angle(np.swapaxes(replay[:, :3, :3], -1, -2) @ after[:, :3, :3]).max())
            if term:
                break
    env.close()
    return np.array(pos), np.array(rot)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--policies", nargs="+", default=["expert", "noisy-expert", "random-smooth"])
    p.add_argument("--out", type=Path, default=RESULTS / "controller_tracking.csv")
    args = p.parse_args()
    rows = []
    for name in cosmos3_gym.list_embodiments():
        for policy in args.policies:
            pos, rot = tracking_errors(name, policy, args.episodes)
            mm, deg = 1e3 * pos, np.rad2deg(rot)
            rows.append(
                {
                    "embodiment": name,
                    "policy": policy,
                    "steps": len(pos),
                    "pos_mm_median": round(float(np.median(mm)), 3),
                    "pos_mm_p95": round(float(np.percentile(mm, 95)), 3),
                    "pos_mm_max": round(float(mm.max()), 3),
                    "rot_deg_median": round(float(np.median(deg)), 3),
                    "rot_deg_p95": round(float(np.percentile(deg, 95)), 3),
                    "rot_deg_max": round(float(deg.max()), 3),
                    "within_2mm_1deg": round(float(np.mean((mm <= 2) & (deg <= 1))), 3),
                }
            )
            print(rows[-1], flush=True)
    with args.out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    command = (
        f"python benchmarks/controller_tracking.py --episodes {args.episodes} --policies {' '.join(args.policies)}"
    )
    report = {"command": command, "hardware": hardware_label(), "rows": rows}
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
