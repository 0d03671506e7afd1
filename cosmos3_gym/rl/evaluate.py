"""Evaluate an agent on the MuJoCo twin (ground truth) and on the learned simulator, seed by seed.

An episode runs until termination or the task's time limit (Reach 50, Push/Lift 100 steps); its
*success* is ``is_success`` at the last step (the Fetch / SB3 ``EvalCallback`` convention) and its
*return* is the sum of the task's dense rewards (Reach −goal distance in m; Push and Lift the staged
reward in [0, 1] per step), never a training penalty. The
learned evaluation uses no guards: it reports what the world model itself predicts for the policy.
Actions are deterministic (``predict(deterministic=True)``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tasks import goal_distance, is_success

#: Twins stepped in lockstep per wave, so the agent predicts for a batch instead of one obs at a time.
TWIN_BATCH = 10


@dataclass(frozen=True)
class EvalResult:
    """Success rate in [0, 1], mean/std episode return, mean final goal distance (m), episode count."""

    success_rate: float
    mean_return: float
    std_return: float
    final_distance: float
    episodes: int

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{k}": v for k, v in asdict(self).items()}


def _summarise(returns: np.ndarray, success: np.ndarray, dist: np.ndarray) -> EvalResult:
    return EvalResult(
        float(success.mean()), float(returns.mean()), float(returns.std()), float(dist.mean()), len(returns)
    )


class Evaluator:
    """Reusable evaluation envs of one embodiment × task (twins built once; learned core per batch size)."""

    def __init__(self, embodiment: str, task: str, model: str | None = None, device: str = "cpu") -> None:
        self.embodiment, self.task_name, self.model, self.device = embodiment, task, model, device
        self.twins = [MujocoTwinEnv(embodiment, task)]
        self.task = self.twins[0].task
        self._core: Any = None

    def twin(self, agent: Any, seeds: list[int]) -> EvalResult:
        """Episodes on the MuJoCo twin from ``reset(seed=s)`` for each seed."""
        while len(self.twins) < min(TWIN_BATCH, len(seeds)):
            self.twins.append(MujocoTwinEnv(self.embodiment, self.task_name))
        returns, success, dist = [], [], []
        for start in range(0, len(seeds), TWIN_BATCH):
            wave = seeds[start : start + TWIN_BATCH]
            envs = self.twins[: len(wave)]
            obs = [env.reset(seed=int(s))[0] for env, s in zip(envs, wave, strict=True)]
            ret, active = np.zeros(len(wave)), np.ones(len(wave), dtype=bool)
            final = list(obs)
            for _ in range(self.task.max_episode_steps):
                batch = {k: np.stack([o[k] for o in obs]) for k in obs[0]}
                actions, _ = agent.predict(batch, deterministic=True)
                for j in np.flatnonzero(active):
                    obs[j], reward, terminated, _, _ = envs[j].step(actions[j])
                    ret[j] += reward
                    final[j] = obs[j]
                    active[j] = not terminated
                if not active.any():
                    break
            ach = np.stack([o["achieved_goal"] for o in final])
            goal = np.stack([o["desired_goal"] for o in final])
            returns.append(ret)
            success.append(is_success(ach, goal, self.task))
            dist.append(np.linalg.norm(ach - goal, axis=-1))
        return _summarise(np.concatenate(returns), np.concatenate(success), np.concatenate(dist))

    def learned(self, agent: Any, seeds: list[int]) -> EvalResult:
        """The same episodes in the learned simulator, all seeds in one batch (start states = the twin's)."""
        if self.model is None:
            raise ValueError("learned evaluation needs a model checkpoint (model=None)")
        from cosmos3_gym.envs.learned_core import LearnedSimCore

        n = len(seeds)
        if self._core is None or self._core.n != n:
            self._core = LearnedSimCore(self.embodiment, self.task_name, n, self.model, self.device)
        core = self._core
        core.reset(np.arange(n), [int(s) for s in seeds])
        ret, active = np.zeros(n), np.ones(n, dtype=bool)
        ach, goal = core.achieved_goal(core.state), core.goal.copy()
        for _ in range(self.task.max_episode_steps):
            actions, _ = agent.predict(core.obs(), deterministic=True)
            reward, terminated, _, _ = core.step(np.clip(actions, -1.0, 1.0))
            core.after_step()
            ret[active] += reward[active]
            ach[active] = core.achieved_goal(core.state)[active]
            active &= ~terminated
            if not active.any():
                break
        dense = goal_distance(ach, goal)
        return _summarise(ret, is_success(ach, goal, self.task), dense)

    def close(self) -> None:
        for env in self.twins:
            env.close()
        if self._core is not None:
            self._core.twin.close()
