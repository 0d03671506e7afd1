"""The compiled arm chain computes what MuJoCo and the twins' controller compute, for every embodiment."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from cosmos3_gym import list_embodiments
from cosmos3_gym.embodiment.chain import ArmChain
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tokens.rotation import axis_angle_to_matrix


def _arms(env: MujocoTwinEnv) -> list[tuple[ArmChain, object]]:
    spec, ctl = env.emb.spec, env.controller
    sites = {e.name: e.site for e in spec.end_effectors}
    return [
        (ArmChain(env.model, sites[a.end_effector], a.joints, spec.controller.damping, ctl.iterations), ik)
        for a, ik in zip(spec.action.arms, ctl.iks, strict=True)
    ]


def _states(env: MujocoTwinEnv, n: int, spread: float, seed: int) -> np.ndarray:
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    return env.data.qpos + rng.normal(0.0, spread, (n, env.model.nq))


@pytest.mark.parametrize("name", list_embodiments())
def test_forward_matches_mujoco(name):
    env = MujocoTwinEnv(name, "lift")
    qs = _states(env, 16, 0.4, 0)
    data = mujoco.MjData(env.model)
    for chain, ik in _arms(env):
        poses = chain.forward(qs)
        for q, pose in zip(qs, poses, strict=True):
            data.qpos[:] = q
            mujoco.mj_kinematics(env.model, data)
            np.testing.assert_allclose(pose[:3, 3], data.site_xpos[ik.site], atol=1e-12)
            np.testing.assert_allclose(pose[:3, :3], data.site_xmat[ik.site].reshape(3, 3), atol=1e-12)


@pytest.mark.parametrize("name", list_embodiments())
def test_solve_matches_the_controller_ik(name):
    """Targets near (one control step) and far (beyond reach: the joint limits bind) give the joints the
    controller's SiteIK gives, and the pose those joints reach."""
    env = MujocoTwinEnv(name, "lift")
    qs = _states(env, 24, 0.2, 1)
    rng = np.random.default_rng(1)
    data = mujoco.MjData(env.model)
    for chain, ik in _arms(env):
        target = chain.forward(qs)
        reach = np.r_[np.full(12, 0.015), np.full(12, 0.5)][:, None]  # m: a control step; far out of reach
        target[:, :3, 3] += reach * rng.normal(0.0, 1.0, (len(qs), 3))
        target[:, :3, :3] = axis_angle_to_matrix(rng.normal(0.0, 0.3, (len(qs), 3))) @ target[:, :3, :3]
        q_arm, reached = chain.solve(qs, target)
        clipped = 0
        for q, t, qa, pose in zip(qs, target, q_arm, reached, strict=True):
            expected, _, _ = ik.solve(q, t, chain.iterations)
            np.testing.assert_allclose(qa, expected, atol=1e-9)
            clipped += np.any((expected <= chain.low + 1e-12) | (expected >= chain.high - 1e-12))
            data.qpos[:] = q
            data.qpos[chain.qadr] = qa
            mujoco.mj_kinematics(env.model, data)
            np.testing.assert_allclose(pose[:3, 3], data.site_xpos[ik.site], atol=1e-9)
        assert clipped > 0 or np.isinf(chain.low).all(), "the far targets should drive some joint to a limit"
        np.testing.assert_array_equal(qs, _states(env, 24, 0.2, 1))  # the input states are not touched


BALL_ARM = """<mujoco><worldbody><body name="link"><joint name="ball" type="ball"/><geom size="0.1"/>
<site name="tip" pos="0 0 0.3"/></body></worldbody></mujoco>"""


def test_bad_chains_fail_in_one_line():
    env = MujocoTwinEnv("franka", "lift")
    grip = env.emb.spec.grippers[0].joints[0]
    with pytest.raises(ValueError, match=rf"\['{grip}'\] are not on the chain"):
        ArmChain(env.model, env.emb.spec.end_effectors[0].site, ["joint1", grip])
    with pytest.raises(ValueError, match="joint 'ball': the arm chain supports hinge and slide joints"):
        ArmChain(mujoco.MjModel.from_xml_string(BALL_ARM), "tip", [])
