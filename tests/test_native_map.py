"""Native actions ⇄ raw Cosmos3 actions: exact inverse inside the action box, for every embodiment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cosmos3_gym import list_embodiments, load_embodiment
from cosmos3_gym.tokens.native import NativeActionMap


@pytest.mark.parametrize("name", list_embodiments())
def test_native_raw_round_trip(name):
    emb = load_embodiment(name)
    nmap = NativeActionMap(emb)
    rng = np.random.default_rng(0)
    batch, arms = 32, nmap.num_arms
    tcp = np.broadcast_to(np.eye(4), (batch, arms, 4, 4)).copy()
    tcp[..., :3, :3] = Rotation.random(batch * arms, random_state=1).as_matrix().reshape(batch, arms, 3, 3)
    tcp[..., :3, 3] = rng.uniform(-0.5, 0.5, (batch, arms, 3))
    action = rng.uniform(-1, 1, (batch, 7 * arms))
    target, raw = nmap.command(tcp, action)
    assert raw.shape == (batch, emb.raw_action_dim)
    np.testing.assert_allclose(nmap.from_raw(tcp, raw), action, atol=1e-9)
    # the raw action decodes, through the contract, to the very poses it was encoded from
    start = np.broadcast_to(np.eye(4), (batch, emb.num_poses, 4, 4)).copy()
    start[:, nmap.arm_block] = tcp
    decoded = emb.actions_to_poses(raw[:, None], start if emb.num_poses > 1 else start[:, 0])[:, 1]
    decoded = decoded[:, nmap.arm_block] if emb.num_poses > 1 else decoded[:, None]
    np.testing.assert_allclose(decoded, target, atol=1e-12)
    # zero action = zero motion in every pose block, gripper half open
    _, zero = nmap.command(tcp, np.zeros((batch, 7 * arms)))
    for sl in emb.contract.pose_slices:
        np.testing.assert_allclose(zero[:, sl], np.tile([0, 0, 0, 1, 0, 0, 0, 1, 0], (batch, 1)), atol=1e-12)
