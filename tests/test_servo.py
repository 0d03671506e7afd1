"""Servo dynamics of an arm (embodiment/servo.py): MuJoCo's own inertia and integrator, so one control step lands
where MuJoCo's arm lands in free space, on every embodiment."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from cosmos3_gym.embodiment.catalog import list_embodiments
from cosmos3_gym.embodiment.servo import JointServo
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.validation.families import make_family


def _servos(env: MujocoTwinEnv) -> list[JointServo]:
    return [JointServo(env.model, a.joints, env.emb.spec.controller.substeps) for a in env.emb.spec.action.arms]


@pytest.mark.parametrize("name", list_embodiments())
def test_the_arm_inertia_is_mujocos_in_any_configuration(name):
    env = MujocoTwinEnv(name, "reach")
    env.reset(seed=1)
    rng, data, full = np.random.default_rng(0), mujoco.MjData(env.model), np.zeros((env.model.nv, env.model.nv))
    for servo, ik in zip(_servos(env), env.controller.iks, strict=True):
        np.testing.assert_array_equal(servo.dadr, ik.dadr)
        assert np.all(servo.kp > 0) and np.all(servo.kv >= 0) and np.all(servo.force > 0)
        span = np.minimum(servo.high, 3.0) - np.maximum(servo.low, -3.0)
        qpos = np.tile(env.data.qpos, (4, 1))
        qpos[:, servo.qadr] = np.maximum(servo.low, -3.0) + rng.uniform(0, 1, (4, len(span))) * span
        got = servo.inertia(qpos)
        for q, m in zip(qpos, got, strict=True):
            data.qpos[:] = q
            mujoco.mj_forward(env.model, data)
            mujoco.mj_fullM(env.model, data, full)
            np.testing.assert_allclose(m, full[np.ix_(servo.dadr, servo.dadr)], rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", list_embodiments())
def test_one_servo_step_lands_where_mujocos_arm_lands_under_reversals(name):
    """From the measured joints and velocities toward the controller's IK targets, in free space (Reach): within
    a milliradian of MuJoCo's next joints on the median step (gravity, Coriolis forces and contacts are left
    out), and no farther than the IK targets (AgiBot's, Franka's and UR5e's lag 3–12 mrad behind them)."""
    env = MujocoTwinEnv(name, "reach")
    ctl, servos = env.controller, _servos(env)
    obs, _ = env.reset(seed=7)
    policy = make_family("reversals", env, 7)
    policy.reset(obs)
    ik_err, servo_err = [], []
    for _ in range(30):
        action = np.clip(policy(obs), -1, 1)
        q, v = env.data.qpos.copy(), env.data.qvel.copy()
        target, _ = ctl.map.command(ctl.arm_tcp(env.data), action)
        goals = [ik.solve(q, target[a], ctl.iterations)[0] for a, ik in enumerate(ctl.iks)]
        obs, *_ = env.step(action)
        for ik, servo, goal in zip(ctl.iks, servos, goals, strict=True):
            moved, _ = servo.step(q[None], v[None, servo.dadr], goal[None])
            ik_err.append(np.abs(goal - env.data.qpos[ik.qadr]).max())
            servo_err.append(np.abs(moved[0] - env.data.qpos[ik.qadr]).max())
    servo, ik = np.median(servo_err), np.median(ik_err)
    assert servo < 1e-3 and servo <= ik, (servo, ik)


def test_a_servo_at_rest_on_its_target_stays_and_a_far_target_stops_at_the_joint_range():
    env = MujocoTwinEnv("franka", "reach")
    env.reset(seed=0)
    servo = _servos(env)[0]
    qpos = np.tile(env.data.qpos, (2, 1))
    q = qpos[:, servo.qadr]
    still, v = servo.step(qpos[:1], np.zeros((1, len(q[0]))), q[:1])
    np.testing.assert_allclose(still, q[:1], atol=1e-12)
    np.testing.assert_allclose(v, 0.0, atol=1e-10)
    far = q + 100.0  # beyond every joint's range: the saturated force drives, the range stops
    moved, _ = servo.step(qpos, np.zeros_like(q), far)
    assert np.all(moved <= servo.high + 1e-12)
    reach = np.minimum(far, servo.high)
    assert np.all(np.linalg.norm(reach - moved, axis=1) < np.linalg.norm(reach - q, axis=1))


def test_a_joint_without_a_position_servo_is_refused():
    env = MujocoTwinEnv("franka", "reach")
    model = env.model
    free = next(model.joint(j).name for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE)
    with pytest.raises(ValueError, match="has no actuator"):
        JointServo(model, [free], 4)
    arm = env.emb.spec.action.arms[0].joints
    motor = env.controller.arm_actuators[0][0]
    model.actuator_biastype[motor] = mujoco.mjtBias.mjBIAS_NONE  # a torque motor: force = gain · ctrl
    with pytest.raises(ValueError, match=f"joint {arm[0]!r}: its actuator is not a position servo"):
        JointServo(model, arm, 4)
