"""The two sides of a paired rollout as batched backends of ``N`` environments.

A backend starts ``N`` episodes from given :class:`StartState` s and steps them together with one
native action per env. The ground truth is always :class:`MujocoBackend`; the predicted side is any
object with the same methods (:class:`Backend`): the learned core (:class:`LearnedBackend`), a second
MuJoCo backend (the ORACLE that tests the harness: zero error by construction), or a wrapper that
perturbs another backend (:class:`BiasedBackend`, :class:`FrozenCubeBackend`: deliberately wrong "models").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import mujoco
import numpy as np

from cosmos3_gym.embodiment.layout import ObsLayout
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tasks import goal_distance, is_success

Obs = dict[str, np.ndarray]


@dataclass(frozen=True)
class StartState:
    """One episode's start: the reset seed, the twin's full state (``get_state()``) and its observation.

    ``history``: the observed states before it, ``(H, S)`` oldest first, for a start in the middle of an
    episode (a model with a history context then sees the true past, not the start state repeated)."""

    seed: int
    physics: dict[str, np.ndarray]
    obs: Obs
    history: np.ndarray | None = None


@dataclass
class StepOut:
    """Batched outcome of one step: obs dict of ``(N, ...)``, reward/terminated/success ``(N,)`` (reward:
    −goal distance in m on every task, so returns compare alike across tasks and backends),
    ``uncertainty`` ``(N,)`` in m (sample disagreement) or None when the backend has no estimate."""

    obs: Obs
    reward: np.ndarray
    terminated: np.ndarray
    success: np.ndarray
    uncertainty: np.ndarray | None = None


class Backend(Protocol):
    """What the rollout code needs from either side of the comparison."""

    name: str
    num_envs: int
    layout: ObsLayout

    def start(self, starts: Sequence[StartState]) -> Obs: ...

    def step(self, actions: np.ndarray) -> StepOut: ...

    def qpos(self, i: int) -> np.ndarray: ...

    def close(self) -> None: ...


#: ``factory(num_envs) -> Backend``: how :func:`~cosmos3_gym.validation.api.validate` builds the predicted side.
BackendFactory = Callable[[int], Backend]


def _batch(obs: Sequence[Obs]) -> Obs:
    return {k: np.stack([o[k] for o in obs]) for k in obs[0]}


class MujocoBackend:
    """``N`` MuJoCo twins stepped in lockstep (the ground truth, or the oracle "model").

    ``edit_model(model)`` changes each twin's ``MjModel`` after compilation (heavier or slipperier cube:
    held-out physics that only the MuJoCo side sees). ``physics()`` returns every env's full state, which
    the inverse-dynamics check restores later with ``set_state``.
    """

    def __init__(
        self,
        embodiment: str,
        task: str,
        num_envs: int,
        edit_model: Callable[[mujoco.MjModel], None] | None = None,
        name: str = "mujoco",
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.envs = [MujocoTwinEnv(embodiment, task) for _ in range(num_envs)]
        if edit_model is not None:
            for env in self.envs:
                edit_model(env.model)
                # Recompute the derived constants (body/dof inverse weights used by the constraint solver):
                # without this a 4x heavier cube makes the grasp contact blow up.
                mujoco.mj_setConst(env.model, env.data)
        self.name, self.num_envs, self.layout = name, num_envs, self.envs[0].layout
        self.task = self.envs[0].task

    def start(self, starts: Sequence[StartState]) -> Obs:
        _check_count(self, starts)
        out = []
        for env, s in zip(self.envs, starts, strict=True):
            env.reset(seed=s.seed)  # seeds the env's RNG exactly as a plain reset would
            out.append(env.set_state(s.physics))
        return _batch(out)

    def step(self, actions: np.ndarray) -> StepOut:
        obs, rew, term, succ = [], [], [], []
        for env, a in zip(self.envs, actions, strict=True):
            o, _, t, _, info = env.step(a)
            obs.append(o)
            rew.append(-info["goal_distance"])
            term.append(t)
            succ.append(info["is_success"])
        return StepOut(_batch(obs), np.array(rew), np.array(term, dtype=bool), np.array(succ, dtype=bool))

    def physics(self) -> np.ndarray:
        """Full integration states of every env ``(N, P)`` (``get_state()['physics']``)."""
        return np.stack([env.get_state()["physics"] for env in self.envs])

    def qpos(self, i: int) -> np.ndarray:
        return self.envs[i].data.qpos.copy()

    def close(self) -> None:
        for env in self.envs:
            env.close()


class LearnedBackend:
    """The learned simulator: one batched :class:`LearnedSimCore` of ``N`` envs (no physics).

    Start states are copied into the core (state, history, goal) so the model starts exactly where the
    twin starts, also when a scenario moved the cube after the reset.
    """

    def __init__(
        self,
        embodiment: str,
        task: str,
        num_envs: int,
        model: object,
        device: str = "cpu",
        uncertainty_samples: int = 2,
        flow_steps: int = 1,
    ) -> None:
        from cosmos3_gym.envs.learned_core import Guards, LearnedSimCore

        self.core = LearnedSimCore(
            embodiment,
            task,
            num_envs,
            model,
            device,
            flow_steps=flow_steps,
            guards=Guards(uncertainty_samples=uncertainty_samples),
        )
        self.name, self.num_envs, self.layout = "model", num_envs, self.core.layout

    def start(self, starts: Sequence[StartState]) -> Obs:
        _check_count(self, starts)
        idx = np.arange(self.num_envs)
        self.core.reset(idx, [s.seed for s in starts])
        hist = self.core.history.shape[1]
        for i, s in zip(idx, starts, strict=True):
            self.core.state[i] = s.obs["observation"]
            past = (
                s.obs["observation"][None]
                if s.history is None
                else np.concatenate([s.history, s.obs["observation"][None]])
            )
            # The last `hist` states; an episode younger than that repeats its first state (as a reset does).
            self.core.history[i] = past[np.clip(np.arange(len(past) - hist, len(past)), 0, None)]
            self.core.goal[i] = s.obs["desired_goal"]
        # LearnedSimCore has no public "start from this state"; re-beginning the chunk from the copied
        # history is what its own reset does after drawing the state.
        self.core.restart_chunks(idx)
        return self.core.obs()

    def step(self, actions: np.ndarray) -> StepOut:
        _, terminated, success, info = self.core.step(np.clip(actions, -1.0, 1.0))
        self.core.after_step()
        unc = info.get("model_uncertainty")
        unc = None if unc is None else np.asarray(unc)
        return StepOut(self.core.obs(), -info["goal_distance"], terminated, success, unc)

    def qpos(self, i: int) -> np.ndarray:
        return self.core.qpos(i)

    def close(self) -> None:
        self.core.twin.close()


class BiasedBackend:
    """Another backend whose reported states are offset by constant biases (a deliberately wrong model).

    ``bias`` maps observation parts to offsets (m), e.g. ``{"cube_pos": [0.005, 0, 0]}``; per-arm parts
    get the offset on every arm. Reward and success are recomputed from the biased state.
    """

    def __init__(self, inner: Backend, bias: dict[str, Sequence[float]], task: object) -> None:
        self.inner, self.task = inner, task
        self.name, self.num_envs, self.layout = f"{inner.name}+bias", inner.num_envs, inner.layout
        self.offset = np.zeros(self.layout.size)
        for part, value in bias.items():
            if part not in self.layout.parts:
                raise ValueError(f"bias part {part!r} not in the observation; parts: {sorted(self.layout.parts)}")
            sl = self.layout.parts[part]
            v = np.asarray(value, dtype=np.float64)
            self.offset[sl] = np.tile(v, (sl.stop - sl.start) // v.size)

    def _bias(self, obs: Obs) -> Obs:
        state = obs["observation"] + self.offset
        part = "tcp_pos" if self.task.goal_part == "tcp_pos" else "cube_pos"
        achieved = self.layout.arm(state, part, 0) if part == "tcp_pos" else self.layout.get(state, part)
        return {"observation": state, "achieved_goal": achieved.copy(), "desired_goal": obs["desired_goal"]}

    def start(self, starts: Sequence[StartState]) -> Obs:
        return self._bias(self.inner.start(starts))

    def step(self, actions: np.ndarray) -> StepOut:
        out = self.inner.step(actions)
        obs = self._bias(out.obs)
        reward = -goal_distance(obs["achieved_goal"], obs["desired_goal"])
        return StepOut(
            obs,
            reward,
            out.terminated,
            is_success(obs["achieved_goal"], obs["desired_goal"], self.task),
            out.uncertainty,
        )

    def qpos(self, i: int) -> np.ndarray:
        return self.inner.qpos(i)

    def close(self) -> None:
        self.inner.close()


class FrozenCubeBackend:
    """Another backend whose reported cube never moves from its start pose: a model that ignores contact.

    The inner backend steps as usual (its arm moves, its cube may too); the observations report the
    cube's start position and orientation throughout, and reward and success are recomputed from them.
    """

    CUBE_PARTS = ("cube_pos", "cube_rot6d")

    def __init__(self, inner: Backend, task: object) -> None:
        self.inner, self.task = inner, task
        self.name, self.num_envs, self.layout = f"{inner.name}+frozen-cube", inner.num_envs, inner.layout
        self.frozen: dict[str, np.ndarray] = {}

    def _freeze(self, obs: Obs) -> Obs:
        state = obs["observation"].copy()
        lay = self.layout
        for part in self.CUBE_PARTS:
            if part in lay.parts:
                state[:, lay.parts[part]] = self.frozen[part]
        if "cube_rel_pos" in lay.parts:
            state[:, lay.parts["cube_rel_pos"]] = lay.get(state, "cube_pos") - lay.arm(state, "tcp_pos", 0)
        achieved = lay.achieved(state, self.task.goal_part)
        return {"observation": state, "achieved_goal": achieved, "desired_goal": obs["desired_goal"]}

    def start(self, starts: Sequence[StartState]) -> Obs:
        obs = self.inner.start(starts)
        self.frozen = {
            p: self.layout.get(obs["observation"], p).copy() for p in self.CUBE_PARTS if p in self.layout.parts
        }
        return self._freeze(obs)

    def step(self, actions: np.ndarray) -> StepOut:
        out = self.inner.step(actions)
        obs = self._freeze(out.obs)
        reward = -goal_distance(obs["achieved_goal"], obs["desired_goal"])
        success = is_success(obs["achieved_goal"], obs["desired_goal"], self.task)
        # A cube that never moves never leaves the table.
        return StepOut(obs, reward, np.zeros(self.num_envs, dtype=bool), success, out.uncertainty)

    def qpos(self, i: int) -> np.ndarray:
        return self.inner.qpos(i)

    def close(self) -> None:
        self.inner.close()


def _check_count(backend: Backend, starts: Sequence[StartState]) -> None:
    if len(starts) != backend.num_envs:
        raise ValueError(f"{backend.name} backend has {backend.num_envs} envs but got {len(starts)} start states")
