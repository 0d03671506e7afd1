"""Held-out action families: action processes that no training data uses (what an exploring agent sends).

The training mixture is the expert, the noisy expert (AR(1) noise σ 0.3), random-smooth (low-pass
uniform, α 0.8), stop-and-go and PPO agents + σ 0.05 noise. These differ from all of them:

- ``reversals``: every channel saturated at ±1, each flipping its sign on its own after 3–10 steps
  (bang-bang commands, abrupt reversals; random-smooth never saturates every channel at once);
- ``biased-expert``: the scripted expert plus a constant per-episode bias of ±0.3–0.5 on every motion
  channel (a systematically wrong policy: the arm settles off the expert's targets, rotated);
- ``slow-sine``: a sine per channel at 0.05–0.25 Hz, amplitude 0.3–0.8 (a low-bandwidth sweep: long
  one-sided commands that carry the arm to its workspace edges and joint limits).

They are deliberately *not* in :func:`cosmos3_gym.sim.policies.make_policy` (the ``collect`` registry): a
family that data collection can name stops being held out. ``validate --policy`` names them
(:mod:`cosmos3_gym.validation.policies`). Each is deterministic given its seed; actions are float32
in ``[-1, 1]``, laid out ``[dx dy dz rx ry rz g]`` per arm.
"""

from __future__ import annotations

import numpy as np

from cosmos3_gym.sim.policies import Policy

#: The held-out families (in tables in this order).
FAMILIES = ("reversals", "biased-expert", "slow-sine")
#: The in-distribution reference the families are compared with (a training-mixture policy).
IN_DISTRIBUTION = "noisy-expert"


def motion_channels(dim: int) -> np.ndarray:
    """Indices of the motion channels (all but each arm's gripper) of a ``dim``-wide native action."""
    return np.flatnonzero(np.arange(dim) % 7 != 6)


class Reversals:
    """Per channel a saturated command ``±1`` that flips sign after a random 3–10 steps (per channel)."""

    def __init__(self, dim: int, seed: int, min_steps: int = 3, max_steps: int = 10) -> None:
        self.rng = np.random.default_rng(seed)
        self.dim, self.lo, self.hi = dim, min_steps, max_steps
        self.sign = np.ones(dim)
        self.left = np.zeros(dim, dtype=np.int64)

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.sign = self.rng.choice([-1.0, 1.0], self.dim)
        self.left = self.rng.integers(self.lo, self.hi + 1, self.dim)

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        flip = self.left == 0
        self.sign[flip] *= -1
        self.left[flip] = self.rng.integers(self.lo, self.hi + 1, int(flip.sum()))
        self.left -= 1
        return self.sign.astype(np.float32)


class BiasedExpert:
    """``expert(obs) + b`` clipped to the box; ``b`` constant per episode: ``±U(lo, hi)`` on every motion
    channel, 0 on the grippers (the grasp logic stays the expert's)."""

    def __init__(self, expert: Policy, dim: int, seed: int, lo: float = 0.3, hi: float = 0.5) -> None:
        self.expert, self.dim, self.lo, self.hi = expert, dim, lo, hi
        self.rng = np.random.default_rng(seed)
        self.bias = np.zeros(dim)

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.expert.reset(obs)
        motion = motion_channels(self.dim)
        self.bias = np.zeros(self.dim)
        self.bias[motion] = self.rng.choice([-1.0, 1.0], motion.size) * self.rng.uniform(self.lo, self.hi, motion.size)

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.clip(np.asarray(self.expert(obs), np.float64) + self.bias, -1, 1).astype(np.float32)


class SlowSine:
    """``a_d(t) = A_d sin(2π f_d t / fps + φ_d)``: ``f_d ∈ [0.05, 0.25]`` Hz, ``A_d ∈ [0.3, 0.8]``, random
    phase, per channel (grippers included)."""

    def __init__(self, dim: int, seed: int, fps: float, freq_hz: tuple[float, float] = (0.05, 0.25)) -> None:
        self.rng = np.random.default_rng(seed)
        self.dim, self.fps, self.freq_hz = dim, fps, freq_hz
        self.t = 0
        self.amp = self.freq = self.phase = np.zeros(dim)

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.t = 0
        self.amp = self.rng.uniform(0.3, 0.8, self.dim)
        self.freq = self.rng.uniform(*self.freq_hz, self.dim)
        self.phase = self.rng.uniform(0, 2 * np.pi, self.dim)

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        a = self.amp * np.sin(2 * np.pi * self.freq * self.t / self.fps + self.phase)
        self.t += 1
        return a.astype(np.float32)


def make_family(kind: str, env, seed: int) -> Policy:
    """A held-out family policy for an (unwrapped) :class:`~cosmos3_gym.sim.twin_env.MujocoTwinEnv`."""
    dim = int(env.action_space.shape[0])
    if kind == "reversals":
        return Reversals(dim, seed)
    if kind == "slow-sine":
        return SlowSine(dim, seed, env.emb.fps)
    if kind == "biased-expert":
        from cosmos3_gym.sim.experts import make_expert

        return BiasedExpert(make_expert(env), dim, seed)
    raise ValueError(f"unknown action family {kind!r}; allowed: {', '.join(FAMILIES)}")
