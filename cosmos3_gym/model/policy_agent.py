"""The world model's policy mode as an agent for any environment with the goal-dict observations.

Every ``replan`` steps the policy head proposes a chunk of raw Cosmos3 actions from the recent state
history and the goal; each raw row is turned into a native action at the TCP pose the environment
reports at that step (:meth:`NativeActionMap.from_raw`), so the agent runs unchanged on the MuJoCo
twin or inside the learned simulator.
"""

from __future__ import annotations

import numpy as np

from cosmos3_gym.model.checkpoint import Checkpoint
from cosmos3_gym.model.inference import ModeRunner
from cosmos3_gym.tokens import Embodiment
from cosmos3_gym.tokens.native import NativeActionMap


class PolicyHeadAgent:
    """``agent.reset(obs)``, then ``action = agent(obs)`` (float32 native action)."""

    def __init__(
        self,
        ckpt: Checkpoint,
        emb: Embodiment,
        task: str,
        replan: int = 4,
        flow_steps: int = 1,
        seed: int | None = None,
    ) -> None:
        if not 1 <= replan <= ckpt.model.cfg.chunk:
            raise ValueError(f"replan must be in [1, {ckpt.model.cfg.chunk}], got {replan}")
        self.runner, self.task = ModeRunner(ckpt, emb), task
        self.nmap = NativeActionMap(emb)
        self.replan, self.flow_steps, self.seed = replan, flow_steps, seed
        self.history: list[np.ndarray] = []
        self.plan: np.ndarray | None = None
        self.t = 0

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.history = [obs["observation"]]
        self.plan, self.t = None, 0

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        state = obs["observation"]
        if self.history and self.t > 0:
            self.history.append(state)
        self.history = self.history[-self.runner.space.history_len :]
        if self.plan is None or self.t % self.replan == 0:
            seed = None if self.seed is None else self.seed + self.t
            self.plan, _ = self.runner.policy(
                np.stack(self.history)[None], obs["desired_goal"][None], self.task, self.flow_steps, seed
            )
            self.plan_start = self.t
        raw = self.plan[0, self.t - self.plan_start]
        self.t += 1
        return self.nmap.from_raw(self.runner.prior.arm_tcp(state[None]), raw[None])[0].astype(np.float32)
