"""The gripper's geometry (embodiment/hull.py) and its fingers' dynamics (embodiment/finger_servo.py): MuJoCo's own
numbers, so the table stops an arm where MuJoCo's stops and the fingers open and close as MuJoCo's do."""

from __future__ import annotations

from dataclasses import replace

import mujoco
import numpy as np
import pytest

from cosmos3_gym.embodiment.catalog import list_embodiments
from cosmos3_gym.embodiment.finger_servo import FingerServo
from cosmos3_gym.embodiment.hull import GripperHull, rest_on_table
from cosmos3_gym.envs.learned_core import LearnedSimCore
from cosmos3_gym.model import Checkpoint, load_checkpoint
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.sim.policies import make_policy
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tokens import load_embodiment


def _arms(env: MujocoTwinEnv) -> list[tuple[str, object]]:
    """(TCP site, gripper spec) of every controlled arm."""
    spec = env.emb.spec
    sites, grips = {e.name: e.site for e in spec.end_effectors}, {g.name: g for g in spec.grippers}
    return [(sites[a.end_effector], grips[a.gripper]) for a in spec.action.arms]


def _lowest_by_mujoco(model: mujoco.MjModel, data: mujoco.MjData, site: int) -> float:
    """The lowest point of the collision geoms under the site's body, from MuJoCo's geom poses: exact for boxes,
    the support point of a cylinder."""
    root, low = model.site_bodyid[site], np.inf
    for g in range(model.ngeom):
        b = model.geom_bodyid[g]
        while b not in (root, 0):
            b = model.body_parentid[b]
        if b != root or not (model.geom_contype[g] or model.geom_conaffinity[g]):
            continue
        rot, size = data.geom_xmat[g].reshape(3, 3), model.geom_size[g]
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CYLINDER:
            axis_z = abs(rot[2, 2])
            low = min(low, data.geom_xpos[g, 2] - size[1] * axis_z - size[0] * np.sqrt(max(1 - axis_z**2, 0.0)))
        elif model.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX:
            low = min(low, data.geom_xpos[g, 2] - np.abs(rot[2]) @ size)
    return low


@pytest.mark.parametrize("name", list_embodiments())
def test_the_hull_finds_the_grippers_lowest_point_in_any_configuration(name):
    env = MujocoTwinEnv(name, "lift")
    model, data, rng = env.model, mujoco.MjData(env.model), np.random.default_rng(0)
    for site, grip in _arms(env):
        hull, sid = GripperHull(model, site, list(grip.joints)), model.site(site).id
        for _ in range(10):
            q = model.qpos0.copy()
            for j in np.flatnonzero(model.jnt_limited & (model.jnt_type >= int(mujoco.mjtJoint.mjJNT_SLIDE))):
                q[model.jnt_qposadr[j]] = rng.uniform(*model.jnt_range[j])  # hinge and slide joints
            data.qpos[:] = q
            mujoco.mj_kinematics(model, data)
            tcp = np.eye(4)
            tcp[:3, :3], tcp[:3, 3] = data.site_xmat[sid].reshape(3, 3), data.site_xpos[sid]
            got = hull.lowest(tcp[None], q[None])[0]
            # A 16-gon under-reaches a cylinder's lowest point by < 2 % of its radius (≤ 0.8 mm here).
            assert _lowest_by_mujoco(model, data, sid) - 1e-12 <= got <= _lowest_by_mujoco(model, data, sid) + 8e-4


@pytest.mark.parametrize("name", list_embodiments())
def test_an_arm_driven_into_the_table_stops_with_its_gripper_on_it(name):
    """The IK step from the joints to the raised pose lands the lowest point on the floor (within 1 mm) with joints
    and TCP consistent; a pose above the table is left alone."""
    emb = load_embodiment(name)
    prior = CommandPrior(emb, kinematic=True, table_depth=0.0)
    env = MujocoTwinEnv(name, "lift")
    env.reset(seed=2)
    q = np.tile(env.data.qpos[: emb.layout.robot_nq], (2, 1))
    for a, (chain, hull) in enumerate(zip(prior.chains, prior.hulls, strict=True)):
        target = chain.forward(q)
        target[1, 2, 3] -= hull.lowest(target, q)[1] - emb.spec.workspace.table_z + 0.01  # 1 cm into the table
        for _ in range(20):  # the second row's arm driven there
            q[1, chain.qadr], _ = chain.solve(q[1:], target[1:])
        tcp = chain.forward(q)
        assert hull.lowest(tcp, q)[1] < emb.spec.workspace.table_z - 0.005
        rows, joints, pose = rest_on_table(hull, chain, q, tcp, emb.spec.workspace.table_z)
        assert rows.tolist() == [1], a
        moved = q[1:].copy()
        moved[:, chain.qadr] = joints
        np.testing.assert_allclose(chain.forward(moved), pose, atol=1e-9)
        assert abs(hull.lowest(pose, moved)[0] - emb.spec.workspace.table_z) < 1e-3


@pytest.mark.parametrize("name", list_embodiments())
def test_one_finger_servo_step_lands_where_mujocos_fingers_land(name):
    """From the measured finger and under commands that open and close the gripper in free space (Reach): within
    0.05 mm of MuJoCo's finger on the median step, where the fingers move by millimetres per step."""
    env = MujocoTwinEnv(name, "reach")
    substeps = env.emb.spec.controller.substeps
    servos = [
        (FingerServo(env.model, g.actuator, g.joints, g.width_scale, g.width_offset_m, substeps), g)
        for _, g in _arms(env)
    ]
    obs, _ = env.reset(seed=11)
    policy, rng = make_policy("noisy-expert", env, 11), np.random.default_rng(11)
    policy.reset(obs)
    errors, moves = [], []
    for t in range(40):
        action = np.clip(policy(obs), -1, 1)
        if t % 6 == 0:
            action[6::7] = rng.uniform(-1, 1, len(action[6::7]))
        q, v = env.data.qpos.copy(), env.data.qvel.copy()
        obs, *_ = env.step(action)
        for arm, (servo, g) in enumerate(servos):
            ctrl = g.ctrl(action[7 * arm + 6])
            s, _ = servo.step(q[servo.qadr[:1]], v[servo.dadr[:1]], np.array([ctrl]))
            np.testing.assert_allclose(servo.joints(s)[0, 1] / servo.ratio[1], s[0])
            errors.append(abs(s[0] - env.data.qpos[servo.qadr[0]]))
            moves.append(abs(env.data.qpos[servo.qadr[0]] - q[servo.qadr[0]]))
            width = env.layout.arm(obs["observation"], "gripper_width", arm)[0]
            assert abs(servo.width(np.array([env.data.qpos[servo.qadr[0]]]))[0] - width) < 1e-3
    assert np.median(errors) < 5e-5 and np.percentile(moves, 90) > 1e-3, (np.median(errors), np.percentile(moves, 90))


def _core(tiny_model: str, name: str, task: str, **flags: object) -> LearnedSimCore:
    ckpt = load_checkpoint(tiny_model)
    stats = replace(ckpt.stats[name], tcp_residual_gate=0.0, **flags)
    core = LearnedSimCore(name, task, 1, Checkpoint(ckpt.model, {**ckpt.stats, name: stats}))
    core.reset(np.arange(1), [5])
    return core


def test_in_the_learned_env_a_gripper_pressed_down_rests_on_the_table(tiny_model):
    lowest = {}
    for depth in (None, 0.002):
        core = _core(tiny_model, "ur5e", "reach", kinematic_prior=True, servo_prior=True, table_depth_m=depth)
        hull = GripperHull(core.emb.kinematics.model, "tcp", list(core.emb.spec.grippers[0].joints))
        low = []
        for _ in range(40):  # straight down at full speed, far into the table
            core.step(np.array([[0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0]]))
            core.after_step()
            low.append(hull.lowest(core.prior.arm_tcp(core.state)[:, 0], core.layout.get(core.state, "joint_pos"))[0])
        lowest[depth] = min(low)
    table = core.emb.spec.workspace.table_z
    assert lowest[None] < table - 0.005  # without it the fingers pass through the table
    assert table - 0.002 - 1e-3 < lowest[0.002] < table - 0.002 + 1e-3


def test_in_the_learned_env_fingers_close_as_commanded_and_stop_at_the_cube_between_them():
    core = _core("default", "franka", "lift", finger_servo=True)  # an object_prior model: the fingers meet the cube
    lay, half = core.layout, core.emb.spec.workspace.cube_half_size
    servo = core.prior.finger_servos[0]
    widths = [lay.arm(core.state, "gripper_width", 0)[0, 0]]
    for _ in range(6):  # closing in free space: the servo's widths, step by step
        before = lay.arm(core.state, "gripper_width", 0)[0, 0]
        s = (before - servo.width_offset) / servo.width_per_s
        vel = core.state[0, lay.parts["joint_vel"].start + servo.dadr[0]]
        expect = servo.width(servo.step(np.array([s]), np.array([vel]), np.array([0.0]))[0])[0]
        core.step(np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]]))
        core.after_step()
        widths.append(lay.arm(core.state, "gripper_width", 0)[0, 0])
        assert abs(widths[-1] - expect) < 1e-9
    assert widths[-1] < widths[0] - 0.01
    for _ in range(10):  # open again
        core.step(np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]))
        core.after_step()
    assert lay.arm(core.state, "gripper_width", 0)[0, 0] > 2 * half + 0.01
    # the cube between the open fingers: closing on it stops at its size, the fingers at rest
    state = core.state.copy()
    state[0, lay.parts["cube_pos"]] = lay.arm(state, "tcp_pos", 0)[0]
    core.state[:] = state
    core.history[:, -1] = state
    core.restart_chunks(np.arange(1))  # the chunk begins again from the edited state, as a validation start does
    core.step(np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]]))
    assert abs(lay.arm(core.state, "gripper_width", 0)[0, 0] - 2 * half) < 1e-9
    np.testing.assert_array_equal(core.state[0, lay.parts["joint_vel"].start + servo.dadr], 0.0)


def test_contact_priors_need_the_kinematic_prior_and_joint_velocities(tmp_path):
    import yaml

    from cosmos3_gym.embodiment.catalog import embodiments_dir

    with pytest.raises(ValueError, match="table contact moves the kinematic prior's joints"):
        CommandPrior(load_embodiment("franka"), table_depth=0.0)
    doc = yaml.safe_load((embodiments_dir() / "franka.yaml").read_text())
    doc.update(name="novel", mjcf=str(embodiments_dir() / doc["mjcf"]))
    doc["observation"] = [p for p in doc["observation"] if p != "joint_vel"]
    (tmp_path / "novel.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(ValueError, match="the finger servo needs 'joint_vel'"):
        CommandPrior(load_embodiment(tmp_path / "novel.yaml"), fingers=True)


def test_a_finger_without_a_coupling_or_a_tendon_actuator_is_refused():
    env = MujocoTwinEnv("franka", "reach")
    model, grip = env.model, env.emb.spec.grippers[0]
    with pytest.raises(ValueError, match="two slide joints"):
        FingerServo(model, grip.actuator, ["joint1", "joint2"], (1.0, 1.0), 0.0, 4)
    arm_actuator = env.controller.arm_actuators[0][0]
    with pytest.raises(ValueError, match="needs an actuator on a fixed tendon"):
        FingerServo(model, model.actuator(arm_actuator).name, grip.joints, (1.0, 1.0), 0.0, 4)
    model.eq_active0[:] = 0
    model.eq_type[:] = mujoco.mjtEq.mjEQ_CONNECT  # no joint equality left
    with pytest.raises(ValueError, match="have no joint equality"):
        FingerServo(model, grip.actuator, grip.joints, (1.0, 1.0), 0.0, 4)
