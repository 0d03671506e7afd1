"""Every embodiment's MJCF compiles, matches its YAML, has a home keyframe and a reachable cube."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from cosmos3_gym import list_embodiments, load_embodiment
from cosmos3_gym.sim.ik import solve_ik

NAMES = list_embodiments()


def _home(emb):
    model = emb.make_model()
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_KEY, "home"))
    mujoco.mj_forward(model, data)
    return model, data


@pytest.mark.parametrize("name", NAMES)
def test_actuators_match_yaml(name):
    emb = load_embodiment(name)
    model = emb.make_model()
    spec = emb.spec
    expected = [j for arm in spec.action.arms for j in arm.joints]
    arm_actuated = {
        model.joint(model.actuator_trnid[a, 0]).name
        for a in range(model.nu)
        if model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT
    }
    assert set(expected) <= arm_actuated, "every arm joint the IK moves needs a position actuator"
    assert model.nu == len(expected) + len(spec.grippers) + len(spec.controller.hold_actuators)
    assert emb.native_action_dim == 7 * len(spec.action.arms)
    assert model.opt.timestep == pytest.approx(1.0 / (emb.fps * spec.controller.substeps))


@pytest.mark.parametrize("name", NAMES)
def test_home_is_stable(name):
    """At home with home ctrl, 1 s of physics moves the TCP < 2 mm and leaves the cube on the table."""
    emb = load_embodiment(name)
    model, data = _home(emb)
    tcp = model.site(emb.spec.end_effectors[-1].site).id
    start = data.site_xpos[tcp].copy()
    cube = model.body("cube").id
    for _ in range(int(1.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
    assert np.linalg.norm(data.site_xpos[tcp] - start) < 2e-3
    ws = emb.spec.workspace
    assert abs(data.xpos[cube][2] - (ws.table_z + ws.cube_half_size)) < 3e-3


@pytest.mark.parametrize("name", NAMES)
def test_cube_reachable_from_home(name):
    """IK from home reaches a top-down grasp pose at the cube and at the corners of the spawn box."""
    emb = load_embodiment(name)
    model, data = _home(emb)
    arm = emb.spec.action.arms[0]
    site = next(e.site for e in emb.spec.end_effectors if e.name == arm.end_effector)
    home_tcp = np.eye(4)
    home_tcp[:3, :3] = data.site_xmat[model.site(site).id].reshape(3, 3)
    ws = emb.spec.workspace
    z = ws.table_z + ws.cube_half_size
    targets = [data.xpos[model.body("cube").id].copy()]
    targets += [
        np.array([x, y, z]) for x in (ws.cube_low[0], ws.cube_high[0]) for y in (ws.cube_low[1], ws.cube_high[1])
    ]
    for p in targets:
        target = home_tcp.copy()
        target[:3, 3] = p
        _q, err_pos, err_rot = solve_ik(model, data.qpos.copy(), site, arm.joints, target, iterations=200)
        assert err_pos < 2e-3 and err_rot < np.deg2rad(1.0), (p, err_pos, np.rad2deg(err_rot))


@pytest.mark.parametrize("name", NAMES)
def test_gripper_width_formula(name):
    """Opening width from the YAML formula: ctrl_open → max width (±5 mm), ctrl_closed → the robot's
    smallest gap (under a quarter of the stroke: the WidowX's fingers stop at 12 mm)."""
    emb = load_embodiment(name)
    model, data = _home(emb)
    for g in emb.spec.grippers:
        act = model.actuator(g.actuator).id
        widths = []
        for ctrl in (g.ctrl_open, g.ctrl_closed):
            data.ctrl[act] = ctrl
            for _ in range(int(0.5 / model.opt.timestep)):
                mujoco.mj_step(model, data)
            q = [data.qpos[model.jnt_qposadr[model.joint(j).id]] for j in g.joints]
            widths.append(g.width_offset_m + float(np.dot(g.width_scale, q)))
        assert widths[0] == pytest.approx(g.max_width_m, abs=5e-3)
        assert widths[1] < 0.25 * g.max_width_m
