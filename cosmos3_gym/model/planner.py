"""A model-predictive agent: sample action chunks around the policy mode's proposal, score them inside the
world model with the task's reward, execute the best (MPPI-style sampling, receding horizon).

Every ``replan`` steps, from the recent state history the environment reports:

1. the policy mode proposes a chunk of raw Cosmos3 actions (:meth:`ModeRunner.policy`). If the model predicts
   it at least ``guard`` of the best possible return (Push and Lift, whose dense reward is at most 1 per step),
   it is executed as it is (``guard`` 1 always searches): searching around a chunk the model already rates
   near-perfect mostly finds candidates whose contact the model over-rates. Otherwise the previous plan's
   unexecuted rows (shifted, the last row repeated) are a second proposal;
2. ``samples`` candidates: the two proposals and perturbations of them in Cosmos3 token space (the contract's
   quantile map, where every channel of every embodiment spans about [-1, 1]) by time-correlated Gaussian
   noise of std ``noise``, clipped to the token range;
3. forward dynamics rolls every candidate out in one batch (:meth:`ModeRunner.forward_dynamics`, the same
   priors and gates the learned environments step with), and each is scored by the discounted sum of the
   task's dense reward (:func:`~cosmos3_gym.tasks.compute_reward`) over its predicted states;
4. ``iterations > 1`` resamples around the softmax-weighted mean of the candidates (MPPI, temperature
   ``temperature`` times the returns' spread); the best candidate seen is executed, unless its predicted return
   beats the policy's proposal's by no more than ``margin`` (then the proposal is).

Raw rows become native actions at the TCP pose the environment reports at each step, as for the policy mode,
so the planner runs unchanged on the MuJoCo twin or inside a learned simulator. :func:`planner_policy` is the
builder of the policy registry's ``planner`` kind.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cosmos3_gym.model.checkpoint import Checkpoint
from cosmos3_gym.model.inference import ModeRunner
from cosmos3_gym.model.policy_agent import ChunkAgent, model_policy_checkpoint
from cosmos3_gym.sim.policies import PolicyFactory, non_negative
from cosmos3_gym.tasks import compute_reward, get_task
from cosmos3_gym.tasks.rewards import effector
from cosmos3_gym.tokens import Embodiment

if TYPE_CHECKING:
    from cosmos3_gym.sim.twin_env import MujocoTwinEnv

#: Discount of the predicted rewards along a chunk (later rows are less certain).
DISCOUNT = 0.95
#: Default ``guard``, the share of the best possible return at which the policy's chunk is executed unsearched:
#: chosen on the select split (``benchmarks/results/experiments/policy_mode/select_guard*``), where 0.8 cost Push.
GUARD = 0.9
#: Row-to-row correlation of the candidates' token noise (smooth perturbations, not jitter).
NOISE_RHO = 0.8


class PlannerAgent(ChunkAgent):
    """Sampling MPC inside the world model as a :class:`ChunkAgent`."""

    def __init__(
        self,
        ckpt: Checkpoint,
        emb: Embodiment,
        task: str,
        samples: int = 64,
        iterations: int = 2,
        noise: float = 0.1,
        temperature: float = 0.1,
        replan: int = 4,
        seed: int | None = None,
        margin: float = 0.0,
        guard: float = GUARD,
    ) -> None:
        if samples < 2 or iterations < 1 or noise < 0 or temperature <= 0 or margin < 0 or not 0 <= guard <= 1:
            raise ValueError(
                "planner: samples >= 2, iterations >= 1, noise >= 0, temperature > 0, margin >= 0 and guard in "
                f"[0, 1] needed, got {samples}, {iterations}, {noise}, {temperature}, {margin}, {guard}"
            )
        self.runner, self.task = ModeRunner(ckpt, emb), get_task(task)
        super().__init__(emb, self.runner.space.history_len, ckpt.model.cfg.chunk, replan)
        self.layout, self.ws = emb.layout, emb.spec.workspace
        self.samples, self.iterations, self.noise, self.temperature = samples, iterations, noise, temperature
        self.seed, self.margin, self.guard = seed, margin, guard
        # Only a staged reward (at most 1 per step; Reach's is -distance) has a best return to compare with.
        self.guarded = guard < 1 and self.task.staged
        self.discount = DISCOUNT ** np.arange(ckpt.model.cfg.chunk)

    def returns(self, history: np.ndarray, goal: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Predicted discounted return ``(K,)`` of raw chunks ``(K, G, D)`` from ``history (H, S)``."""
        k = len(raw)
        states = self.runner.forward_dynamics(
            np.repeat(history[None], k, 0), raw, np.repeat(goal[None], k, 0), self.task.name
        )
        achieved = self.layout.achieved(states, self.task.goal_part)
        reward = compute_reward(achieved, goal, self.task, "dense", effector(self.layout, states), self.ws)
        return reward @ self.discount[: states.shape[1]]

    def plan(self, history: np.ndarray, goal: np.ndarray) -> np.ndarray:
        emb, space = self.runner.emb, self.runner.space
        rng = np.random.default_rng(None if self.seed is None else self.seed + self.t)
        proposal, _ = self.runner.policy(history[None], goal[None], self.task.name)
        if self.guarded and self.returns(history, goal, proposal)[0] >= self.guard * self.discount.sum():
            return proposal[0]
        centres = [space.tokens(proposal[0])]
        if self.chunk is not None:  # the unexecuted rest of the last plan, held at its last row
            rest = self.chunk[self.t - self.plan_start :]
            centres.append(space.tokens(np.concatenate([rest, np.repeat(rest[-1:], len(self.chunk) - len(rest), 0)])))
        mean, best, best_return = centres[0], None, -np.inf
        for it in range(self.iterations):
            eps = rng.normal(0.0, self.noise, (self.samples, *mean.shape)) * space.action_mask
            for row in range(1, mean.shape[0]):  # AR(1) over rows, stationary std = noise
                eps[:, row] = NOISE_RHO * eps[:, row - 1] + np.sqrt(1 - NOISE_RHO**2) * eps[:, row]
            tokens = np.clip(mean + eps, -1.0, 1.0)
            if it == 0:
                tokens[: len(centres)] = centres
            raw = emb.from_tokens(tokens.astype(np.float64))
            ret = self.returns(history, goal, raw)
            top = int(np.argmax(ret))
            if it == 0:
                proposal, proposal_return = raw[0], float(ret[0])
            if best is None or ret[top] > best_return:
                best, best_return = raw[top], float(ret[top])
            w = np.exp((ret - ret.max()) / (self.temperature * (ret.std() + 1e-9)))
            mean = np.einsum("k,kgd->gd", w / w.sum(), tokens)
        # The policy's own chunk stands unless the model predicts a candidate better by more than the margin.
        return best if best_return > proposal_return + self.margin else proposal


def planner_policy(
    env: MujocoTwinEnv,
    checkpoint: str | Path | Checkpoint = "default",
    samples: int = 64,
    iterations: int = 2,
    noise: float = 0.1,
    replan: int = 4,
    device: str = "cpu",
    margin: float = 0.0,
    guard: float = GUARD,
) -> PolicyFactory:
    """Builder of kind ``planner``: the checkpoint (a folder, ``"default"`` or loaded) is loaded and checked
    against ``env``'s embodiment once; each episode gets a :class:`PlannerAgent` sampling with its seed."""
    margin = non_negative("planner", "margin", margin)
    ckpt = model_policy_checkpoint(
        "planner", env, checkpoint, device, samples=samples, iterations=iterations, replan=replan
    )
    options = {"replan": replan, "margin": margin, "guard": guard}
    build = partial(PlannerAgent, ckpt, env.emb, env.task.name, samples, iterations, noise, **options)
    try:
        build()  # fails now
    except ValueError as exc:
        raise ValueError(f"policy 'planner': {exc}") from None

    def make(seed: int) -> PlannerAgent:
        return build(seed=seed)

    return make
