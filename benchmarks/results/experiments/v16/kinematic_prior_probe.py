"""Probe (no model): how far does each forward-dynamics prior alone drift from MuJoCo, open loop?

Two priors rolled out on their own predictions, no learned residual, against the twin under the same actions:

- ``cmd``: the shipped commanded-pose prior, TCP ← TCP · Δ(action) every step;
- ``kin``: a kinematic prior, the twin controller's own IK step (3 DLS iterations, clipped to the joint
  limits) from the predicted joints, TCP = FK(joints): it knows where the controller stops short.

Median first-arm TCP error (mm) at 1 / 16 / 64 steps over 10 episodes per row (select seeds 210000+), windows
from t0 = 0, 16, 32 under the noisy expert (Push, Lift), or from reset under a held-out family (Reach).

    python benchmarks/results/experiments/v16/kinematic_prior_probe.py > kinematic_prior_probe.txt
"""

from __future__ import annotations

import mujoco
import numpy as np

from cosmos3_gym.sim.policies import make_policy
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.validation.families import make_family


def probe(emb: str, task: str, family: str, starts: tuple[int, ...], episodes: int = 10, steps: int = 100) -> dict:
    env = MujocoTwinEnv(emb, task)
    ctl = env.controller
    scratch = mujoco.MjData(env.model)

    def fk(q: np.ndarray) -> np.ndarray:
        scratch.qpos[:] = q
        mujoco.mj_kinematics(env.model, scratch)
        return ctl.arm_tcp(scratch)

    res: dict[str, list[float]] = {f"{k}{h}": [] for k in ("cmd", "kin") for h in (1, 16, 64)}
    for e in range(episodes):
        seed = 210000 + e
        obs, _ = env.reset(seed=seed)
        pol = make_policy("noisy-expert", env, seed) if family == "noisy-expert" else make_family(family, env, seed)
        pol.reset(obs)
        qs, tcps, acts = [env.data.qpos.copy()], [ctl.arm_tcp(env.data)], []
        for _ in range(steps):
            a = np.clip(pol(obs), -1, 1)
            acts.append(a)
            obs, _, term, trunc, _ = env.step(a)
            qs.append(env.data.qpos.copy())
            tcps.append(ctl.arm_tcp(env.data))
            if term or trunc:
                break
        for t0 in starts:
            for h in (1, 16, 64):
                if t0 + h > len(acts):
                    continue
                tcp, q = tcps[t0].copy(), qs[t0].copy()
                for k in range(t0, t0 + h):
                    tcp = ctl.map.commanded_poses(tcp[None], acts[k][None])[0]
                    target = ctl.map.commanded_poses(fk(q)[None], acts[k][None])[0]
                    for arm, ik in enumerate(ctl.iks):
                        q[ik.qadr] = ik.solve(q, target[arm], ctl.iterations)[0]
                true = tcps[t0 + h][0, :3, 3]
                res[f"cmd{h}"].append(np.linalg.norm(tcp[0, :3, 3] - true))
                res[f"kin{h}"].append(np.linalg.norm(fk(q)[0, :3, 3] - true))
    return {k: round(1000 * float(np.median(v)), 1) for k, v in res.items() if v}


if __name__ == "__main__":
    rows = [(t, "noisy-expert", (0, 16, 32)) for t in ("push", "lift")]
    rows += [("reach", f, (0,)) for f in ("reversals", "slow-sine")]
    for emb in ("agibot", "franka", "umi", "ur5e", "widowx"):
        for task, family, starts in rows:
            r = probe(emb, task, family, starts)
            print(f"{emb:<7} {task:<5} {family:<12} " + " ".join(f"{k}={v}" for k, v in r.items()), flush=True)
