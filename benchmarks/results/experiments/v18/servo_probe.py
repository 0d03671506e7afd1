"""Probe (no model): how far does each arm prior alone drift from MuJoCo, open loop from reset?

Four priors rolled out on their own joints and velocities, no network, against the twin under the same actions
(median first-arm TCP error in mm at 16 steps over 6 episodes, select seeds 210000+):

- ``ik``: v17's kinematic prior, each arm at the controller's IK step from its joints;
- ``diag``: the arm moves toward those IK targets through its servos, each joint alone with the inertia's
  diagonal at the ``home`` keyframe;
- ``fullhome``: the same with the arm's full inertia matrix at ``home``;
- ``fulllocal``: with the full inertia at the current configuration, once per control step (what v18 ships,
  :mod:`cosmos3_gym.embodiment.servo`; here through MuJoCo's own ``mj_fullM``).

    python benchmarks/results/experiments/v18/servo_probe.py > servo_probe.txt
"""

from __future__ import annotations

import mujoco
import numpy as np

from cosmos3_gym.embodiment.servo import JointServo
from cosmos3_gym.sim.policies import make_policy
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.validation.families import make_family

KINDS = ("ik", "diag", "fullhome", "fulllocal")


def servo_steps(servo: JointServo, q: np.ndarray, v: np.ndarray, goal: np.ndarray, inertia: np.ndarray) -> tuple:
    """One control step of the arm's servos with a given inertia ``(k, k)`` (the implicit step of
    :func:`cosmos3_gym.embodiment.servo._servo`, written out in NumPy)."""
    h, ctrl = servo.timestep, np.clip(goal, servo.ctrl_low, servo.ctrl_high)
    for _ in range(servo.substeps):
        f = servo.kp * (ctrl - q) - servo.kv * v
        sat = np.abs(f) > servo.force
        f = np.clip(f, -servo.force, servo.force)
        damp = servo.damping + np.where(sat, 0.0, servo.kv)
        v = np.linalg.solve(inertia + h * np.diag(damp), inertia @ v + h * (f - servo.damping * v) + h * damp * v)
        q = np.clip(q + h * v, servo.low, servo.high)
    return q, v


def probe(emb: str, task: str, family: str, episodes: int = 6, steps: int = 16) -> dict[str, float]:
    env = MujocoTwinEnv(emb, task)
    ctl, model = env.controller, env.model
    servos = [JointServo(model, a.joints, ctl.substeps) for a in env.emb.spec.action.arms]
    scratch, full = mujoco.MjData(model), np.zeros((model.nv, model.nv))

    def inertia(q: np.ndarray | None) -> np.ndarray:
        if q is None:
            mujoco.mj_resetDataKeyframe(model, scratch, 0)
        else:
            scratch.qpos[:] = q
        mujoco.mj_forward(model, scratch)
        mujoco.mj_fullM(model, scratch, full)
        return full.copy()

    def fk(q: np.ndarray) -> np.ndarray:
        scratch.qpos[:] = q
        mujoco.mj_kinematics(model, scratch)
        return ctl.arm_tcp(scratch)

    home = inertia(None)
    errors: dict[str, list[float]] = {k: [] for k in KINDS}
    for e in range(episodes):
        seed = 210000 + e
        obs, _ = env.reset(seed=seed)
        policy = make_policy(family, env, seed) if family == "noisy-expert" else make_family(family, env, seed)
        policy.reset(obs)
        q0, v0, actions = env.data.qpos.copy(), env.data.qvel.copy(), []
        for _ in range(steps):
            actions.append(np.clip(policy(obs), -1, 1))
            obs, *_ = env.step(actions[-1])
        truth = ctl.arm_tcp(env.data)[0, :3, 3]
        for kind in KINDS:
            q, v = q0.copy(), v0.copy()
            for action in actions:
                target, _ = ctl.map.command(fk(q), action)
                goals = [ik.solve(q, target[a], ctl.iterations)[0] for a, ik in enumerate(ctl.iks)]
                m = home if kind == "fullhome" else inertia(q)
                nq, nv = q.copy(), v.copy()
                for ik, servo, goal in zip(ctl.iks, servos, goals, strict=True):
                    block = m[np.ix_(servo.dadr, servo.dadr)]
                    if kind == "ik":
                        nq[ik.qadr] = goal
                        continue
                    if kind == "diag":
                        block = np.diag(np.diag(inertia(None)[np.ix_(servo.dadr, servo.dadr)]))
                    nq[ik.qadr], nv[servo.dadr] = servo_steps(servo, q[ik.qadr], v[servo.dadr], goal, block)
                q, v = nq, nv
            errors[kind].append(1000 * float(np.linalg.norm(fk(q)[0, :3, 3] - truth)))
    return {k: round(float(np.median(v)), 1) for k, v in errors.items()}


if __name__ == "__main__":
    rows = [("push", "noisy-expert"), ("lift", "noisy-expert"), ("reach", "reversals"), ("reach", "slow-sine")]
    for emb in ("agibot", "franka", "umi", "ur5e", "widowx"):
        for task, family in rows:
            r = probe(emb, task, family)
            print(f"{emb:<7} {task:<5} {family:<12} " + " ".join(f"{k}={v}" for k, v in r.items()), flush=True)
