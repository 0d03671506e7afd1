"""Data-collection policies over the goal-conditioned observation dict.

``make_policy(kind, env, seed)`` returns a :class:`Policy`: ``reset(obs)`` at episode start, then
``policy(obs) -> action`` (float32, the env's native action space). Kinds:

- ``expert``: the scripted expert of the env's task (:mod:`cosmos3_gym.sim.experts`);
- ``noisy-expert``: the expert plus temporally correlated Gaussian noise (wider state coverage);
- ``random-smooth``: low-pass filtered uniform noise (exploration-like, no task knowledge);
- ``stop-and-go``: the expert interrupted by pauses: stretches of zero motion command and of small
  random commands (the regime of an RL agent near its goal, which the other kinds never visit: an arm
  told to hold still);
- ``agent``: a trained stable-baselines3 agent (deterministic actions) plus small correlated noise
  (σ = 0.05): the states an agent actually visits, near its goal included, for on-policy data
  aggregation (train an agent in the model, collect its twin rollouts, retrain the model on them).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

POLICY_KINDS = ("expert", "noisy-expert", "random-smooth", "stop-and-go", "agent")
#: Noise std of the ``agent`` kind: small, so that near the goal the agent's own small actions still dominate.
AGENT_NOISE = 0.05


class Policy(Protocol):
    def reset(self, obs: dict[str, np.ndarray]) -> None: ...

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray: ...


class RandomSmooth:
    """``a_t = α a_{t-1} + (1 − α) u_t``, ``u_t ~ U(-1, 1)``, rescaled so that |a| spans the box."""

    def __init__(self, dim: int, seed: int, alpha: float = 0.8) -> None:
        self.dim, self.alpha = dim, alpha
        self.rng = np.random.default_rng(seed)
        self.state = np.zeros(dim)
        # Std of the filtered process is σ_u · sqrt((1 − α) / (1 + α)); undo that shrinkage.
        self.gain = np.sqrt((1 + alpha) / (1 - alpha))

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.state = np.zeros(self.dim)

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        self.state = self.alpha * self.state + (1 - self.alpha) * self.rng.uniform(-1, 1, self.dim)
        return np.clip(self.gain * self.state, -1, 1).astype(np.float32)


class NoisyExpert:
    """A base policy's action (the expert, or an agent) plus AR(1) Gaussian noise of std ``sigma``
    (clipped to the box)."""

    def __init__(self, expert: Policy, dim: int, seed: int, sigma: float = 0.3, alpha: float = 0.7) -> None:
        self.expert, self.sigma, self.alpha = expert, sigma, alpha
        self.rng = np.random.default_rng(seed)
        self.noise = np.zeros(dim)

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.expert.reset(obs)
        self.noise[:] = 0.0

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        self.noise = self.alpha * self.noise + np.sqrt(1 - self.alpha**2) * self.rng.normal(
            0, self.sigma, self.noise.shape
        )
        return np.clip(self.expert(obs) + self.noise, -1, 1).astype(np.float32)


class StopAndGo:
    """The expert, with pauses: a Markov chain over ``go`` (expert action), ``hold`` (zero motion) and
    ``jitter`` (motion ~ N(0, ``small``²) per channel). Grippers always follow the expert, so a grasped
    cube stays grasped through a pause. Segments last ``mean_steps`` on average; an episode starts in a
    pause half the time (an arm held still at its reset pose)."""

    MODES = ("go", "hold", "jitter")

    def __init__(self, expert: Policy, dim: int, seed: int, mean_steps: float = 10.0, small: float = 0.05) -> None:
        self.expert, self.small = expert, small
        self.rng = np.random.default_rng(seed)
        self.p_end = 1.0 / mean_steps
        # Every channel but each arm's gripper ([dx dy dz rx ry rz g] per arm).
        self.motion = np.flatnonzero(np.arange(dim) % 7 != 6)
        self.mode = "go"

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.expert.reset(obs)
        self.mode = "go" if self.rng.random() < 0.5 else str(self.rng.choice(self.MODES[1:]))

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        action = np.asarray(self.expert(obs), dtype=np.float64)  # advances the expert's phase every step
        if self.rng.random() < self.p_end:  # a pause resumes the expert; the expert pauses either way
            self.mode = str(self.rng.choice(self.MODES[1:])) if self.mode == "go" else "go"
        if self.mode == "hold":
            action[self.motion] = 0.0
        elif self.mode == "jitter":
            action[self.motion] = self.rng.normal(0.0, self.small, len(self.motion))
        return np.clip(action, -1, 1).astype(np.float32)


def make_policy(kind: str, env, seed: int, agent: object | None = None) -> Policy:
    """Build a policy for an (unwrapped) :class:`~cosmos3_gym.sim.twin_env.MujocoTwinEnv`. ``agent``: the
    loaded SB3 model (:func:`~cosmos3_gym.sim.agents.load_sb3_policy`), required by kind ``agent`` only."""
    if kind not in POLICY_KINDS:
        raise ValueError(f"unknown policy {kind!r}; allowed: {', '.join(POLICY_KINDS)}")
    if (kind == "agent") != (agent is not None):
        raise ValueError("policy 'agent' needs a trained agent (and only it takes one): pass agent=PATH.zip")
    dim = env.action_space.shape[0]
    if kind == "agent":
        from cosmos3_gym.sim.agents import SB3Policy

        return NoisyExpert(SB3Policy(agent), dim, seed, sigma=AGENT_NOISE)
    if kind == "random-smooth":
        return RandomSmooth(dim, seed)
    from cosmos3_gym.sim.experts import make_expert

    expert = make_expert(env)
    if kind == "stop-and-go":
        return StopAndGo(expert, dim, seed)
    return expert if kind == "expert" else NoisyExpert(expert, dim, seed)
