"""The shipped default checkpoint: it loads, steps every learned id, and does what it did when it shipped.

The reference rollouts (``tests/data/shipped_rollouts.npz``) are written by
``python benchmarks/fingerprint.py --out ... --golden tests/data/shipped_rollouts.npz``; a refactor must
reproduce them (to float32 rounding across CPUs), a new default checkpoint rewrites them.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import cosmos3_gym  # noqa: F401  (registers the ids)
from cosmos3_gym.model import checkpoint_digest
from cosmos3_gym.registration import learned_ids

GOLDEN = Path(__file__).parent / "data" / "shipped_rollouts.npz"
REFERENCE = np.load(GOLDEN)
IDS = learned_ids()


def _actions(space: gym.spaces.Box, steps: int) -> np.ndarray:
    """The reference's actions: a seeded random walk in ``[-1.2, 1.2]`` (some clip), as fingerprint.py."""
    walk = np.cumsum(np.random.default_rng(1).normal(0.0, 0.35, (steps, *space.shape)), axis=0)
    return np.clip(walk, -1.2, 1.2).astype(np.float32)


def test_reference_is_of_the_shipped_weights():
    assert str(REFERENCE["weights_sha256"]) == checkpoint_digest("default"), (
        "the shipped checkpoint changed: regenerate tests/data/shipped_rollouts.npz with benchmarks/fingerprint.py"
    )


def test_reference_covers_every_learned_id():
    assert set(IDS) == set(REFERENCE.files) - {"weights_sha256"}


@pytest.mark.parametrize("env_id", IDS)
def test_shipped_model_reproduces_its_rollout(env_id):
    expected = REFERENCE[env_id]
    env = gym.make(env_id)  # the shipped checkpoint, default settings
    obs, _ = env.reset(seed=7)
    states = [obs["observation"]]
    for a in _actions(env.action_space, len(expected) - 1):
        obs, reward, _, truncated, _ = env.step(a)
        assert np.isfinite(reward) and not truncated
        states.append(obs["observation"])
    env.close()
    states = np.stack(states)
    np.testing.assert_array_equal(states[0], expected[0])  # the twin's reset state, exactly
    # The model moved the arm, and it moved it as it did when it shipped (the tolerance absorbs float32
    # rounding on other CPUs; any change to the model's inputs moves states by far more).
    tcp = env.unwrapped.core.layout.parts["tcp_pos"]
    assert np.linalg.norm(states[-1, tcp][:3] - states[0, tcp][:3]) > 0.01
    np.testing.assert_allclose(states, expected, rtol=1e-5, atol=1e-4)
