"""The world model's policy mode as an agent for any environment with the goal-dict observations.

Every ``replan`` steps the policy head proposes a chunk of raw Cosmos3 actions from the recent state
history and the goal, by default on the flow's deterministic path (starting noise ε = 0, the path the
policy is trained on as plain regression; a one-step sample from ε ~ N(0, I) adds the network's residual
error in undoing ε to every action: on the select split it cut Reach success from 1.00 to 0.10–1.00 and
Lift from 0.00–1.00 to 0.00–0.35, ``benchmarks/results/experiments/policy_mode/``). Each raw row
is turned into a native action at the TCP pose the environment reports at that step
(:meth:`NativeActionMap.from_raw`, :class:`ChunkAgent`, which the planner and a served Cosmos3's policy share),
so the agent runs unchanged on the MuJoCo twin or inside the learned simulator. :func:`policy_head_policy` builds
the policy registry's ``policy-head`` kind for a local checkpoint (:mod:`cosmos3_gym.backends.remote_policy`
dispatches a URL to a served model).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cosmos3_gym.model.checkpoint import Checkpoint, load_checkpoint
from cosmos3_gym.model.inference import ModeRunner
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.sim.policies import PolicyFactory
from cosmos3_gym.tokens import Embodiment
from cosmos3_gym.tokens.native import NativeActionMap

if TYPE_CHECKING:
    from cosmos3_gym.sim.twin_env import MujocoTwinEnv


class ChunkAgent:
    """``agent.reset(obs)``, then ``action = agent(obs)`` (float32 native action): executes raw Cosmos3 chunks.

    Every ``replan`` steps :meth:`plan` gives a chunk ``(G, D)`` of raw rows from the last ``history_len``
    states ``(H, S)`` and the goal ``(3,)``; each row is executed as the native action at the TCP pose the
    environment reports at that step (:meth:`NativeActionMap.from_raw`), so an agent runs unchanged on the
    MuJoCo twin or inside the learned simulator. ``decision_s`` holds the wall time of every plan (s)."""

    def __init__(self, emb: Embodiment, history_len: int, chunk: int, replan: int) -> None:
        if not 1 <= replan <= chunk:
            raise ValueError(f"replan must be in [1, {chunk}], got {replan}")
        self.prior, self.nmap = CommandPrior(emb), NativeActionMap(emb)
        self.history_len, self.replan = history_len, replan
        self.decision_s: list[float] = []
        self._clear()

    def plan(self, history: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """The next chunk of raw rows ``(G, D)``; ``self.t`` is the step it starts at."""
        raise NotImplementedError

    def _clear(self) -> None:
        self.history: list[np.ndarray] = []
        self.chunk: np.ndarray | None = None  # (G, D) raw rows
        self.t = self.plan_start = 0

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self._clear()
        self.history = [obs["observation"]]

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        state = obs["observation"]
        if self.t > 0:
            self.history.append(state)
        self.history = self.history[-self.history_len :]
        if self.chunk is None or self.t - self.plan_start >= self.replan:
            t0 = time.perf_counter()
            self.chunk = self.plan(np.stack(self.history), obs["desired_goal"])
            self.plan_start = self.t
            self.decision_s.append(time.perf_counter() - t0)
        raw = self.chunk[self.t - self.plan_start]
        self.t += 1
        return self.nmap.from_raw(self.prior.arm_tcp(state[None]), raw[None])[0].astype(np.float32)


class PolicyHeadAgent(ChunkAgent):
    """The world model's policy mode as a :class:`ChunkAgent`."""

    def __init__(
        self,
        ckpt: Checkpoint,
        emb: Embodiment,
        task: str,
        replan: int = 4,
        flow_steps: int = 1,
        seed: int | None = None,
        stochastic: bool = False,
    ) -> None:
        self.runner, self.task = ModeRunner(ckpt, emb), task
        super().__init__(emb, self.runner.space.history_len, ckpt.model.cfg.chunk, replan)
        # The episode seed drives the flow's starting noise, drawn only when sampling stochastically.
        self.flow_steps, self.seed = flow_steps, seed if stochastic else None

    def plan(self, history: np.ndarray, goal: np.ndarray) -> np.ndarray:
        seed = None if self.seed is None else self.seed + self.t
        chunk, _ = self.runner.policy(history[None], goal[None], self.task, self.flow_steps, seed)
        return chunk[0]


def model_policy_checkpoint(
    kind: str, env: MujocoTwinEnv, checkpoint: str | Path | Checkpoint, device: str, **counts: object
) -> Checkpoint:
    """The checkpoint of a model-backed policy kind (a folder, ``"default"`` or loaded), checked against
    ``env``'s embodiment, with every ``counts`` option an integer >= 1; else a one-line ``ValueError``."""
    label = f"policy {kind!r}"
    try:
        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint, device)
    except (OSError, ValueError) as exc:  # CheckpointError is a ValueError
        raise ValueError(f"{label}: {exc}") from exc
    if env.emb.name not in ckpt.stats:
        raise ValueError(f"{label}: checkpoint {str(checkpoint)!r} covers {sorted(ckpt.stats)}, not {env.emb.name!r}")
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{label}: {name} must be an integer >= 1, got {value!r}")
    return ckpt


def policy_head_policy(
    env: MujocoTwinEnv,
    checkpoint: str | Path | Checkpoint = "default",
    replan: int = 4,
    flow_steps: int = 1,
    device: str = "cpu",
    stochastic: bool = False,
) -> PolicyFactory:
    """Builder of kind ``policy-head``: the checkpoint (a folder, ``"default"`` or loaded) is loaded and checked
    against ``env``'s embodiment once; each episode gets a :class:`PolicyHeadAgent` (``stochastic``: sampling
    the flow's starting noise with the episode seed)."""
    ckpt = model_policy_checkpoint("policy-head", env, checkpoint, device, replan=replan, flow_steps=flow_steps)
    if not isinstance(stochastic, bool | np.bool_):
        raise ValueError(f"policy 'policy-head': stochastic must be True or False, got {stochastic!r}")
    try:
        PolicyHeadAgent(ckpt, env.emb, env.task.name, replan, flow_steps)  # a replan past the chunk fails now
    except ValueError as exc:
        raise ValueError(f"policy 'policy-head': {exc}") from None

    def make(seed: int) -> PolicyHeadAgent:
        return PolicyHeadAgent(ckpt, env.emb, env.task.name, replan, flow_steps, seed, bool(stochastic))

    return make
