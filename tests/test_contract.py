"""The Cosmos3 action contract, for every shipped embodiment (discovered from embodiments/*.yaml)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from cosmos3_gym import list_embodiments, load_embodiment
from cosmos3_gym.embodiment.spec import MAX_ACTION_DIM

NAMES = list_embodiments()


def smooth_trajectory(rng: np.random.Generator, steps: int, num_poses: int, step_m: float, step_rad: float):
    """Random smooth poses ``(steps+1, P, 4, 4)``: integrated, low-pass filtered random velocities."""
    start_rot = Rotation.random(num_poses, random_state=rng.integers(1 << 31))
    start_pos = rng.uniform(-0.5, 0.5, size=(num_poses, 3))
    vel = np.cumsum(rng.normal(size=(steps, num_poses, 6)), axis=0) / np.sqrt(np.arange(1, steps + 1))[:, None, None]
    poses = np.empty((steps + 1, num_poses, 4, 4))
    poses[:] = np.eye(4)
    rot, pos = start_rot, start_pos.copy()
    poses[0, :, :3, :3], poses[0, :, :3, 3] = rot.as_matrix(), pos
    for t in range(steps):
        pos = pos + step_m * vel[t, :, :3]
        rot = Rotation.from_rotvec(step_rad * vel[t, :, 3:]) * rot
        poses[t + 1, :, :3, :3], poses[t + 1, :, :3, 3] = rot.as_matrix(), pos
    return poses


def _shape_poses(emb, poses):
    return poses[:, 0] if emb.num_poses == 1 else poses


def _gripper(emb, rng, steps):
    top = emb.spec.grippers[0].max_width_m if emb.spec.grippers[0].convention == "width_m" else 1.0
    g = rng.uniform(0, top, size=(steps, emb.contract.num_grippers))
    return g[:, 0] if emb.contract.num_grippers == 1 else g


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1), steps=st.integers(1, 40), step_m=st.floats(0.0, 0.05), step_rad=st.floats(0.0, 0.3)
)
def test_pose_round_trip(name, seed, steps, step_m, step_rad):
    emb = load_embodiment(name)
    rng = np.random.default_rng(seed)
    poses = _shape_poses(emb, smooth_trajectory(rng, steps, emb.num_poses, step_m, step_rad))
    grip = _gripper(emb, rng, steps)
    raw = emb.poses_to_actions(poses, grip)
    assert raw.shape == (steps, emb.raw_action_dim)
    back = emb.actions_to_poses(raw, poses[0])
    assert back.shape == poses.shape
    np.testing.assert_allclose(back, poses, atol=1e-6)
    np.testing.assert_allclose(emb.gripper_from_actions(raw), grip, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_token_round_trip_and_padding(name, data):
    emb = load_embodiment(name)
    batch = data.draw(st.lists(st.integers(1, 5), min_size=0, max_size=2))
    raw = np.asarray(
        data.draw(
            st.lists(
                st.floats(-2, 2),
                min_size=emb.raw_action_dim * int(np.prod(batch)),
                max_size=emb.raw_action_dim * int(np.prod(batch)),
            )
        )
    ).reshape(*batch, emb.raw_action_dim)
    tokens, mask = emb.to_tokens(raw)
    assert tokens.shape == (*batch, MAX_ACTION_DIM)
    assert mask.shape == (MAX_ACTION_DIM,) and mask.sum() == emb.raw_action_dim and mask[: emb.raw_action_dim].all()
    assert np.all(tokens[..., ~mask] == 0.0)
    np.testing.assert_allclose(emb.from_tokens(tokens), raw, atol=1e-6)
    np.testing.assert_allclose(emb.denormalize(emb.normalize(raw)), raw, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_batched_leading_dims(name):
    emb = load_embodiment(name)
    rng = np.random.default_rng(0)
    trajs = np.stack([_shape_poses(emb, smooth_trajectory(rng, 16, emb.num_poses, 0.01, 0.05)) for _ in range(3)])
    grips = np.stack([_gripper(emb, rng, 16) for _ in range(3)])
    raw = emb.poses_to_actions(trajs, grips)
    assert raw.shape == (3, 16, emb.raw_action_dim)
    for i in range(3):
        np.testing.assert_allclose(raw[i], emb.poses_to_actions(trajs[i], grips[i]), atol=1e-12)
    np.testing.assert_allclose(emb.actions_to_poses(raw, trajs[:, 0]), trajs, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_deltas_match_scipy(name):
    """Framewise deltas and rot6d against an independent implementation built on scipy Rotations."""
    emb = load_embodiment(name)
    rng = np.random.default_rng(1)
    poses = smooth_trajectory(rng, 8, emb.num_poses, 0.02, 0.2)
    raw = emb.poses_to_actions(_shape_poses(emb, poses), _gripper(emb, rng, 8))
    for p, block in enumerate(emb.contract.pose_names):
        ee = next(e for e in emb.spec.end_effectors if e.name == block)
        m = Rotation.from_matrix(np.asarray(ee.to_opencv, dtype=float))
        rots = [Rotation.from_matrix(poses[t, p, :3, :3]) * m for t in range(9)]
        pos = [poses[t, p, :3, 3] + poses[t, p, :3, :3] @ np.asarray(ee.offset_m) for t in range(9)]
        sl = emb.contract.pose_slices[p]
        for t in range(8):
            d_rot = (rots[t].inv() * rots[t + 1]).as_matrix()
            d_pos = rots[t].inv().apply(pos[t + 1] - pos[t])
            np.testing.assert_allclose(raw[t, sl][:3], d_pos, atol=1e-10)
            np.testing.assert_allclose(raw[t, sl][3:], [*d_rot[:, 0], *d_rot[:, 1]], atol=1e-10)


def test_rot6d_layout_is_column_major():
    from cosmos3_gym.tokens.rotation import matrix_to_rot6d, rot6d_to_matrix

    mat = Rotation.from_euler("xyz", [0.3, -0.7, 1.1]).as_matrix()
    r6 = matrix_to_rot6d(mat)
    np.testing.assert_allclose(r6, [mat[0, 0], mat[1, 0], mat[2, 0], mat[0, 1], mat[1, 1], mat[2, 1]])
    np.testing.assert_allclose(rot6d_to_matrix(r6, orthonormalize=False), mat, atol=1e-12)
    np.testing.assert_allclose(matrix_to_rot6d(np.eye(3)), [1, 0, 0, 0, 1, 0])


def test_zero_motion_normalizes_to_documented_vector():
    """Contract §2.11: zero-motion DROID row, g=0 →
    [-0.011, 0.076, 0.023, 1, 0.0007, 0.0016, -0.0005, 1, -0.045, -1]."""
    emb = load_embodiment("franka")
    poses = np.repeat(np.eye(4)[None], 2, axis=0)
    poses[:, :3, 3] = [0.5, 0.1, 0.3]
    raw = emb.poses_to_actions(poses, np.zeros(1))
    np.testing.assert_allclose(raw[0], [0, 0, 0, 1, 0, 0, 0, 1, 0, 0], atol=1e-15)
    x = emb.normalize(raw)[0]
    np.testing.assert_allclose(x, [-0.011, 0.076, 0.023, 1, 0.0007, 0.0016, -0.0005, 1, -0.045, -1], atol=6e-4)


@pytest.mark.parametrize("name", NAMES)
def test_zero_motion_every_domain(name):
    """Rot6d diagonals hit exactly +1 (q99 = 1) and gripper 0 → -1, top of range → +1, in every domain."""
    emb = load_embodiment(name)
    raw = np.zeros((2, emb.raw_action_dim))
    for sl in emb.contract.pose_slices:
        raw[:, sl.start + 3] = raw[:, sl.start + 7] = 1.0
    raw[1, emb.contract.gripper_channels] = np.asarray(emb.spec.cosmos3.stats.q99)[emb.contract.gripper_channels]
    x = emb.normalize(raw)
    for sl in emb.contract.pose_slices:
        assert x[0, sl.start + 3] == pytest.approx(1.0) and x[0, sl.start + 7] == pytest.approx(1.0)
    np.testing.assert_allclose(x[0, emb.contract.gripper_channels], -1.0)
    np.testing.assert_allclose(x[1, emb.contract.gripper_channels], 1.0)


def test_agibot_layout():
    """AgiBot: head 9, right 9, right gripper, left 9, left gripper (indices 0-8, 9-17, 18, 19-27, 28)."""
    emb = load_embodiment("agibot")
    assert emb.raw_action_dim == 29 and emb.contract.pose_names == ("head", "right", "left")
    assert [(s.start, s.stop) for s in emb.contract.pose_slices] == [(0, 9), (9, 18), (19, 28)]
    assert emb.contract.gripper_channels == [18, 28]
    poses = np.repeat(np.eye(4)[None, None], 3, axis=1).repeat(3, axis=0)
    grip = np.array([[0.2, 0.9], [0.3, 0.8]])
    raw = emb.poses_to_actions(poses, grip)
    np.testing.assert_allclose(raw[:, 18], grip[:, 0])
    np.testing.assert_allclose(raw[:, 28], grip[:, 1])


@pytest.mark.parametrize("name", NAMES)
def test_bad_shapes_raise(name):
    emb = load_embodiment(name)
    with pytest.raises(ValueError, match="must have shape"):
        emb.poses_to_actions(np.zeros((5, 3, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="must have shape"):
        emb.from_tokens(np.zeros((4, 32)))
    with pytest.raises(ValueError, match="must have shape"):
        emb.normalize(np.zeros((4, emb.raw_action_dim + 1)))
