"""Periodic re-anchoring of the learned environments to true states reached by the current policy.

Every ``every`` env steps (transitions summed over the envs) :class:`ReanchorVecEnv` does, for each
of the ``K`` learned envs:

1. reset a private MuJoCo twin from a fresh seed of the task's reset distribution;
2. run the *current* agent (stochastic actions, as in training) in the twin for ``t`` steps,
   ``t ~ U{0, …, prefix-1}`` with ``prefix`` = the task's episode limit (the rollout stops early if
   the twin terminates; the state before that step is used);
3. copy the twin's last state, its last ``history`` observed states (front-padded with the first one,
   as a reset does) and its goal into the learned core (``core.state/history/goal``), set the
   episode clock ``core.elapsed`` to ``t`` (or to 0 with an imagination horizon: a fresh H-step
   branch starts there, MBPO style), and restart the model's chunk there (``core.restart_chunks``).

The episode each env was in ends at that step as a time-limit truncation (``done=True``,
``TimeLimit.truncated=True``, ``terminal_observation`` = the pre-teleport observation), so PPO and
SAC bootstrap through it and HER sees an ordinary episode boundary; the returned observation is the
re-anchored state. The effect: model rollouts keep starting from states the policy really visits,
instead of drifting ever further on the model's own predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnvWrapper

from cosmos3_gym.sim.twin_env import MujocoTwinEnv


class ReanchorVecEnv(VecEnvWrapper):
    """Wraps a :class:`~cosmos3_gym.envs.sb3.LearnedSB3VecEnv`; set :attr:`agent` (anything with SB3's
    ``predict``) before training. ``fresh_branch``: episode clock 0 after a re-anchor (imagination horizon).
    """

    def __init__(self, venv: Any, every: int, seed: int = 0, fresh_branch: bool = False) -> None:
        if every < 1:
            raise ValueError(f"reanchor every must be >= 1 env step, got {every}")
        super().__init__(venv)
        self.core = venv.core
        self.every, self.fresh_branch = every, fresh_branch
        self.twin = MujocoTwinEnv(self.core.emb, self.core.task.name, self.core.reward_type)
        self.rng = np.random.default_rng(seed)
        self.agent: Any = None
        self.since = 0
        self.count = 0  # re-anchors done, for logs and tests
        self.twin_steps = 0  # MuJoCo steps spent reaching the anchor states (real-world cost of the guard)

    def reset(self) -> dict[str, np.ndarray]:
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        self.since += self.num_envs
        if self.since >= self.every and self.agent is not None:
            self.since = 0
            for i in range(self.num_envs):
                if not dones[i]:  # end the running episode as a truncation (already-ended ones keep theirs)
                    infos[i]["terminal_observation"] = {k: v[i].copy() for k, v in obs.items()}
                    infos[i]["TimeLimit.truncated"] = True
            dones = np.ones_like(dones)
            obs = self.reanchor()
        return obs, rewards, dones, infos

    def reanchor(self) -> dict[str, np.ndarray]:
        """Move every learned env to a state of a twin rollout of the current agent; returns the new obs."""
        core, limit = self.core, self.core.task.max_episode_steps
        hist_len = core.history.shape[1]
        for i in range(self.num_envs):
            # Seeds above 10^6: never the evaluation seeds (10_000 + i) the benchmarks use.
            obs, _ = self.twin.reset(seed=int(self.rng.integers(1_000_000, 2**31)))
            states = [obs["observation"]]
            for _ in range(int(self.rng.integers(limit))):
                action, _ = self.agent.predict(obs, deterministic=False)
                nxt, _, terminated, _, _ = self.twin.step(action)
                self.twin_steps += 1
                if terminated:
                    break
                obs = nxt
                states.append(obs["observation"])
            hist = np.array(states[-hist_len:])
            if len(hist) < hist_len:
                hist = np.concatenate([np.repeat(hist[:1], hist_len - len(hist), axis=0), hist])
            core.state[i], core.history[i], core.goal[i] = hist[-1], hist, obs["desired_goal"]
            core.elapsed[i] = 0 if self.fresh_branch else len(states) - 1
        core.restart_chunks(np.arange(self.num_envs))
        self.count += 1
        return core.obs()

    def close(self) -> None:
        self.twin.close()
        self.venv.close()
