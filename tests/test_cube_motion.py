"""The cube where the data never shows it (model/cube_motion.py): struck by an opening finger, sliding untouched, and
the learned env's generator carrying on from where those priors put it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cosmos3_gym.embodiment.catalog import list_embodiments
from cosmos3_gym.envs.learned_core import LearnedSimCore
from cosmos3_gym.model import Checkpoint, load_checkpoint
from cosmos3_gym.model.body_prior import BodyPrior
from cosmos3_gym.model.cube_motion import TOUCH_MARGIN_M
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tokens import load_embodiment
from cosmos3_gym.tokens.rotation import matrix_to_rot6d, rot6d_to_matrix


def _beside_a_finger(
    name: str, gap: float, state: np.ndarray | None = None
) -> tuple[CommandPrior, np.ndarray, int, np.ndarray, np.ndarray]:
    """``state (1, S)`` (default: a twin start state of ``name``) with the cube ``gap`` (m) outside its first finger
    along the finger's axis, a face of each parallel (the cube's axes along the finger's first geom's). Returns
    (prior, the state, the finger's qpos address, its axis in the site frame, the TCP rotation in world)."""
    prior = CommandPrior(load_embodiment(name), object_prior=True, kinematic=True, fingers=True)
    if state is None:
        state = MujocoTwinEnv(name, "push").reset(seed=3)[0]["observation"][None]
    state, lay = state.copy(), prior.layout
    motion, hull = prior.motion, prior.hulls[0]
    q, finger, axis, normals = motion.fingers[0][0]
    frame = normals[:3][np.argsort(-np.abs(normals[:3] @ axis))]  # rows: the axis-most geom axis first
    frame[0] = axis
    corners = finger + (lay.get(state, "joint_pos")[0, q] - hull.qpos0[hull.qadr == q][0]) * axis
    lead = (corners @ axis).max()
    centre = (corners @ frame[1:].T).mean(0) @ frame[1:] + (lead + motion.half + gap) * axis
    rot = rot6d_to_matrix(lay.arm(state, "tcp_rot6d", 0))[0]
    lay.get(state, "cube_pos")[0] = lay.arm(state, "tcp_pos", 0)[0] + rot @ centre
    lay.get(state, "cube_rot6d")[0] = matrix_to_rot6d(rot @ frame.T)
    return prior, state, q, axis, rot


@pytest.mark.parametrize("name", list_embodiments())
def test_an_opening_finger_strikes_a_cube_beside_it_along_the_table(name):
    gap, sweep = 0.002, 0.01
    prior, state, q, axis, rot = _beside_a_finger(name, gap)
    lay, cube = prior.layout, prior.layout.parts["cube_pos"]
    pred = state.copy()  # the generator left the cube where it was
    lay.get(pred, "joint_pos")[0, q] += sweep
    lay.arm(pred, "gripper_width", 0)[0] += 2 * sweep
    out = prior.motion.strike(state, pred.copy())
    direction = rot @ axis
    direction[2] = 0.0
    expect = 2 * (sweep - gap) * direction / np.linalg.norm(direction)  # restitution 1: twice the sweep past the gap
    np.testing.assert_allclose(out[0, cube] - state[0, cube], expect, atol=1e-9)
    # closing fingers do not strike (the cube between them is a grasp), nor does a sweep that stops short
    closing = pred.copy()
    lay.arm(closing, "gripper_width", 0)[0] = lay.arm(state, "gripper_width", 0)[0] - 0.001
    np.testing.assert_array_equal(prior.motion.strike(state, closing.copy())[0, cube], state[0, cube])
    short = pred.copy()
    lay.get(short, "joint_pos")[0, q] = lay.get(state, "joint_pos")[0, q] + gap / 2
    np.testing.assert_array_equal(prior.motion.strike(state, short.copy())[0, cube], state[0, cube])
    # the generator's own push along the strike counts toward it
    pushed = pred.copy()
    pushed[0, cube] += 3 * expect
    np.testing.assert_allclose(prior.motion.strike(state, pushed.copy())[0, cube], pushed[0, cube], atol=1e-12)


@pytest.mark.parametrize("name", list_embodiments())
def test_the_distance_bound_keeps_every_cube_a_gripper_can_touch(name):
    """``CubeMotion._near`` skips far cubes before the exact tests: no cube it skips may touch a gripper, with the
    fingers anywhere from shut to past their range, the cube in any orientation around and inside the hand."""
    prior = CommandPrior(load_embodiment(name), object_prior=True, kinematic=True, fingers=True)
    lay, motion, hull = prior.layout, prior.motion, prior.hulls[0]
    rng = np.random.default_rng(0)
    state = np.repeat(MujocoTwinEnv(name, "push").reset(seed=3)[0]["observation"][None], 4000, 0)
    moving = np.unique(hull.qadr[hull.qadr >= 0])
    lay.get(state, "joint_pos")[:, moving] = rng.uniform(-0.02, 0.08, (len(state), len(moving)))
    rot = rot6d_to_matrix(lay.arm(state, "tcp_rot6d", 0))
    offset = rng.normal(size=(len(state), 3))
    offset *= rng.uniform(0.0, 0.4, (len(state), 1)) / np.linalg.norm(offset, axis=-1, keepdims=True)
    lay.get(state, "cube_pos")[:] = lay.arm(state, "tcp_pos", 0) + offset
    q, _ = np.linalg.qr(rng.normal(size=(len(state), 3, 3)))
    lay.get(state, "cube_rot6d")[:] = matrix_to_rot6d(rot @ q)
    near = np.zeros(len(state), bool)
    near[motion._near(state, 0, lay.get(state, "joint_pos"))] = True
    centre = np.einsum("nji,nj->ni", rot, offset)
    exact = hull.clearance(centre, np.swapaxes(rot, -1, -2) @ q, motion.half, lay.get(state, "joint_pos"))
    touching = exact < TOUCH_MARGIN_M
    assert touching.sum() > 50 and (~near).sum() > 50  # both sides of the bound are exercised
    assert near[touching].all()


def test_an_untouched_cube_slides_to_a_stop_and_a_touched_one_is_the_generators():
    prior, state, *_ = _beside_a_finger("franka", 0.3)  # 30 cm from the gripper
    lay, motion = prior.layout, prior.motion
    xy = lay.parts["cube_pos"].start + np.arange(2)
    before = state.copy()
    before[0, xy] -= [0.03, 0.04]  # it moved 50 mm last step
    pred = state.copy()
    pred[0, xy] += [0.001, 0.0]  # the generator's step
    out = motion.slide(before, state, pred.copy(), np.array([True]))
    step = out[0, xy] - state[0, xy]
    np.testing.assert_allclose(step, np.array([0.03, 0.04]) * (0.05 - motion.slowing) / 0.05, atol=1e-12)
    assert 0.0 < motion.slowing < 0.05
    slow = before.copy()
    slow[0, xy] = state[0, xy] - [0.0, motion.slowing / 2]  # slower than friction takes in one step: it stops
    np.testing.assert_allclose(motion.slide(slow, state, pred.copy(), np.array([True]))[0, xy], state[0, xy])
    np.testing.assert_array_equal(motion.slide(before, state, pred.copy(), np.array([False])), pred)  # held/airborne
    np.testing.assert_array_equal(
        motion.slide(state, state, pred.copy(), np.array([True])), pred
    )  # at rest: the gate's
    _, near, *_ = _beside_a_finger("franka", 0.001)
    came, moved = near.copy(), near.copy()
    came[0, xy] -= [0.03, 0.0]
    moved[0, xy] += [0.002, 0.0]
    np.testing.assert_array_equal(motion.slide(came, near, moved.copy(), np.array([True])), moved)  # touched


def test_struck_and_sliding_cubes_follow_mujoco(monkeypatch):
    """Franka Push, training seeds, the expert with the gripper flung open near the cube at random
    (``benchmarks/cube_motion.py``): on MuJoCo's own transitions, the strikes the prior finds move the cube as far
    as MuJoCo's to within a factor 2.5 (median; 0.7-2.2 over the robots) and the same way (within 30°), and
    untouched sliding cubes land within a few millimetres."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from cube_motion import triples

    prior = CommandPrior(load_embodiment("franka"), object_prior=True, kinematic=True, fingers=True)
    cube = prior.layout.parts["cube_pos"]
    before, now, after = triples("franka", "push", 30, 0.5, 60000)
    pred = after.copy()
    pred[:, cube] = now[:, cube]
    out = prior.motion.strike(now, pred)
    true, est = (after - now)[:, cube][:, :2], (out - now)[:, cube][:, :2]
    struck = (np.linalg.norm(est, axis=-1) > 0.02) & (np.linalg.norm(true, axis=-1) > 0.02)
    assert struck.sum() >= 5, struck.sum()
    ratio = np.linalg.norm(est[struck], axis=-1) / np.linalg.norm(true[struck], axis=-1)
    cos = (
        (est[struck] * true[struck]).sum(-1)
        / np.linalg.norm(est[struck], axis=-1)
        / np.linalg.norm(true[struck], axis=-1)
    )
    assert 0.4 < np.median(ratio) < 2.5 and np.median(cos) > np.cos(np.radians(30)), (np.median(ratio), np.median(cos))
    last = np.linalg.norm((now - before)[:, cube][:, :2], axis=-1)
    free = (last > 0.01) & ~prior.motion.touched(now) & ~prior.motion.touched(after)
    slid = prior.motion.slide(before, now, after.copy(), free)
    err = np.linalg.norm((slid - after)[free][:, cube][:, :2], axis=-1)
    assert free.sum() >= 5 and np.median(err) < 0.015, (free.sum(), np.median(err))


@pytest.mark.parametrize("cube_motion", [True, False])
def test_in_the_learned_env_a_struck_cube_flies_off_only_with_cube_motion_and_the_generator_carries_on(cube_motion):
    ckpt = load_checkpoint("default")
    stats = replace(ckpt.stats["franka"], finger_servo=True, cube_motion=cube_motion)
    core = LearnedSimCore("franka", "push", 1, Checkpoint(ckpt.model, {**ckpt.stats, "franka": stats}))
    assert core.prior.motion is not None and core.prior.strikes == cube_motion  # the yield's touch test stays
    core.reset(np.arange(1), [3])
    for _ in range(8):  # close the fingers, arm still
        core.step(np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]]))
        core.after_step()
    lay = core.layout
    _, state, *_ = _beside_a_finger("franka", 0.001, core.state)
    state[0, lay.parts["cube_rel_pos"]] = lay.get(state, "cube_pos")[0] - lay.arm(state, "tcp_pos", 0)[0]
    core.state[:] = state
    core.history[:, -1] = core.history[:, -2] = state
    core.restart_chunks(np.arange(1))
    start = lay.get(core.state, "cube_pos")[0].copy()
    core.step(np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]))  # fling the fingers open
    assert core.resync[0] == cube_motion
    core.after_step()
    struck = lay.get(core.state, "cube_pos")[0].copy()
    core.step(np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]))
    core.after_step()
    flown = lay.get(core.state, "cube_pos")[0]
    if not cube_motion:  # the generator alone never learned the strike (no data shows one): the cube only falls
        assert np.linalg.norm((flown - start)[:2]) < 0.01
        return
    assert np.linalg.norm(struck - start) > 0.02  # thrown
    assert np.linalg.norm(flown - start) > np.linalg.norm(struck - start)  # and sliding on, not pulled back


@pytest.mark.parametrize("gap, generators", [(0.001, True), (0.3, False)])
def test_closed_fingers_touching_the_cube_are_the_generators_and_free_ones_the_servos(gap, generators):
    prior = CommandPrior(load_embodiment("franka"), object_prior=True, kinematic=True, fingers=True)
    lay, servo = prior.layout, prior.finger_servos[0]
    closed = MujocoTwinEnv("franka", "push").reset(seed=3)[0]["observation"][None].copy()
    lay.arm(closed, "gripper_width", 0)[0] = 0.003  # a closed pusher, narrower than the cube
    lay.get(closed, "joint_pos")[0, servo.qadr] = servo.joints(
        np.array([(0.003 - servo.width_offset) / servo.width_per_s])
    )[0]
    _, state, *_ = _beside_a_finger("franka", gap, closed)
    cols = np.r_[lay.parts["gripper_width"].start, lay.parts["joint_pos"].start + servo.qadr]
    cols = np.r_[cols, lay.parts["joint_vel"].start + servo.dadr]
    pred = state.copy()
    pred[0, cols] += [0.002, 0.001, 0.001, 0.02, 0.02]  # the generator: pried open a little
    out = prior.fingers(state, pred.copy(), np.array([[-1.0]]))
    assert np.array_equal(out[0, cols], pred[0, cols]) == generators
    free = BodyPrior.fingers(prior, state, pred.copy(), np.array([[-1.0]]))  # the servo alone
    assert np.array_equal(out[0, cols], free[0, cols]) != generators
