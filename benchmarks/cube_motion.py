"""How the cube-motion priors (``cosmos3_gym/model/cube_motion.py``) compare with MuJoCo on MuJoCo's own transitions.

For every embodiment, Push and Lift episodes of the noisy expert on training seeds, with the gripper flung open
at random while the cube is within 7 cm of the TCP (``--flick`` of the steps), give (before, now, after) state
triples. On each the strike prior moves the cube from ``now`` with MuJoCo's fingers of ``after``; the slide prior
moves an untouched cube that moved over ``before → now``. Reported: the strikes (prior and MuJoCo both > 20 mm):
median ratio of the prior's step to MuJoCo's and the median angle between them; the slides: median and p90
error of the prior's landing, against MuJoCo's (and against leaving the cube where it is).

    python benchmarks/cube_motion.py --out benchmarks/results/cube_motion.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from hardware import hardware_label

from cosmos3_gym.embodiment import list_embodiments
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.sim.policies import make_policy
from cosmos3_gym.sim.twin_env import MujocoTwinEnv


def triples(name: str, task: str, episodes: int, flick: float, seed: int) -> np.ndarray:
    """(before, now, after) observation triples ``(3, T, S)`` of ``episodes`` MuJoCo episodes from ``seed``."""
    env, rng = MujocoTwinEnv(name, task), np.random.default_rng(seed)
    lay, out = env.layout, []
    for s in range(seed, seed + episodes):
        obs, _ = env.reset(seed=s)
        policy = make_policy("noisy-expert", env, s)
        policy.reset(obs)
        run = [obs["observation"]]
        for _ in range(100):
            action = np.clip(policy(obs), -1, 1)
            o = obs["observation"]
            for a in range(lay.num_arms):
                near = np.linalg.norm(lay.get(o, "cube_pos") - lay.arm(o, "tcp_pos", a)) < 0.07
                action[7 * a + 6] = 1.0 if near and rng.random() < flick else action[7 * a + 6]
            obs, _, terminated, truncated, _ = env.step(action)
            run.append(obs["observation"])
            if terminated or truncated:
                break
        out.append(np.stack([run[:-2], run[1:-1], run[2:]]))
    return np.concatenate(out, axis=1)


def measure(name: str, episodes: int, flick: float, seed: int) -> dict[str, float | int]:
    prior = CommandPrior(MujocoTwinEnv(name, "push").emb, object_prior=True, kinematic=True, fingers=True)
    lay, motion = prior.layout, prior.motion
    cube = lay.parts["cube_pos"]
    before, now, after = np.concatenate([triples(name, t, episodes, flick, seed) for t in ("push", "lift")], 1)
    pred = after.copy()
    pred[:, cube] = now[:, cube]
    true = (after - now)[:, cube][:, :2]
    est = (motion.strike(now, pred) - now)[:, cube][:, :2]
    struck = (np.linalg.norm(est, axis=-1) > 0.02) & (np.linalg.norm(true, axis=-1) > 0.02)
    e, t = est[struck], true[struck]
    cos = (e * t).sum(-1) / np.linalg.norm(e, axis=-1) / np.linalg.norm(t, axis=-1)
    last = np.linalg.norm((now - before)[:, cube][:, :2], axis=-1)
    free = (last > 0.002) & ~motion.touched(now) & ~motion.touched(after)
    slid = motion.slide(before, now, after.copy(), free)
    err = np.linalg.norm((slid - after)[free][:, cube][:, :2], axis=-1)
    still = np.linalg.norm(true[free], axis=-1)
    return {
        "transitions": len(now),
        "strikes": int(struck.sum()),
        "strike_ratio_median": float(np.median(np.linalg.norm(e, axis=-1) / np.linalg.norm(t, axis=-1))),
        "strike_angle_median_deg": float(np.degrees(np.arccos(np.clip(np.median(cos), -1, 1)))),
        "slides": int(free.sum()),
        "slide_error_median_mm": float(np.median(err) * 1e3),
        "slide_error_p90_mm": float(np.percentile(err, 90) * 1e3),
        "kept_in_place_error_median_mm": float(np.median(still) * 1e3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embodiments", nargs="+", default=list_embodiments())
    ap.add_argument("--episodes", type=int, default=30, help="per embodiment and task")
    ap.add_argument("--flick", type=float, default=0.5, help="share of steps near the cube with the gripper flung open")
    ap.add_argument("--seed", type=int, default=60000, help="first episode seed (training range: < 100000)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = {}
    for name in args.embodiments:
        rows[name] = measure(name, args.episodes, args.flick, args.seed)
        print(name, rows[name], flush=True)
    settings = {k: getattr(args, k) for k in ("episodes", "flick", "seed")}
    args.out.write_text(json.dumps({"settings": settings, "hardware": hardware_label(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
