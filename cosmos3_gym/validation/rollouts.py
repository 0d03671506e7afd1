"""Paired rollouts: identical start states, then open loop (replayed actions) or closed loop (own policy).

Open loop: the policy acts in the MuJoCo twin; its actions are replayed in the predicted backend from
the same start states, all episodes in one batch. Closed loop: a fresh copy of the same policy (same
seed) acts on each backend's own observations. Episodes end at ``horizon`` steps or at termination
(cube off the table); arrays stay dense and ``length`` says how many steps are valid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from cosmos3_gym.sim.policies import PolicyFactory
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.validation.backends import Backend, MujocoBackend, StartState

#: ``perturb(env, rng)``: changes a freshly reset twin (e.g. moves the cube) before its state is captured.
StartPerturb = Callable[[MujocoTwinEnv, np.random.Generator], None]


@dataclass
class Trajectories:
    """``N`` episodes of one backend. Shapes: states ``(N, T+1, S)`` (index 0 = start), actions
    ``(N, T, A)``, rewards/success ``(N, T)``, uncertainty ``(N, T)`` m or None, goals ``(N, 3)``,
    length ``(N,)`` valid steps; qpos ``(V, T+1, nq)`` of the first V episodes (video); physics
    ``(N, T+1, P)`` full MuJoCo states (ground truth only, for the inverse-dynamics check)."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    success: np.ndarray
    length: np.ndarray
    goals: np.ndarray
    uncertainty: np.ndarray | None = None
    qpos: np.ndarray | None = None
    physics: np.ndarray | None = None

    def final_success(self) -> np.ndarray:
        """``(N,)`` bool: success at each episode's last step (the Gymnasium ``is_success`` at the end)."""
        return self.success[np.arange(len(self.length)), np.maximum(self.length - 1, 0)] & (self.length > 0)

    def head(self, k: int) -> Trajectories:
        """The first ``k`` episodes (video qpos kept as recorded)."""
        cut = lambda a: None if a is None else a[:k]  # noqa: E731
        return Trajectories(
            self.states[:k],
            self.actions[:k],
            self.rewards[:k],
            self.success[:k],
            self.length[:k],
            self.goals[:k],
            cut(self.uncertainty),
            self.qpos,
            cut(self.physics),
        )

    def returns(self) -> np.ndarray:
        """``(N,)`` undiscounted return over the valid steps."""
        mask = np.arange(self.rewards.shape[1])[None] < self.length[:, None]
        return (self.rewards * mask).sum(1)


def make_starts(env: MujocoTwinEnv, seeds: Sequence[int], perturb: StartPerturb | None = None) -> list[StartState]:
    """Reset ``env`` with each seed (the twin's reset distribution), optionally perturb, capture the state."""
    starts = []
    for seed in seeds:
        obs, _ = env.reset(seed=int(seed))
        if perturb is not None:
            perturb(env, np.random.default_rng(int(seed) + 7919))
            obs = env.set_state(env.get_state())  # re-read the observation after the edit
        starts.append(StartState(int(seed), env.get_state(), obs))
    return starts


def rollout(
    backend: Backend,
    starts: Sequence[StartState],
    horizon: int,
    *,
    policy: PolicyFactory | None = None,
    actions: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    video: int = 0,
    stop_on_termination: bool = True,
    desc: str | None = None,
) -> Trajectories:
    """Run ``len(starts)`` episodes in ``backend`` for up to ``horizon`` steps.

    Closed loop: ``policy`` (one fresh policy per episode, seeded with the episode seed). Open loop:
    ``actions`` ``(N, T, A)`` replayed, with ``lengths`` ``(N,)`` valid steps each (steps past an
    episode's length send zeros and are not recorded as valid). ``stop_on_termination`` ends an
    episode when this backend terminates it (off for replays: the comparison runs to the truth's end).
    """
    if (policy is None) == (actions is None):
        raise ValueError("give exactly one of policy (closed loop) or actions (open loop)")
    n = len(starts)
    obs = backend.start(starts)
    lay = backend.layout
    adim = 7 * lay.num_arms  # native action: [dx, dy, dz, rx, ry, rz, gripper] per arm
    policies = [policy(s.seed) for s in starts] if policy is not None else []
    for i, p in enumerate(policies):
        p.reset({k: v[i] for k, v in obs.items()})
    states = np.repeat(obs["observation"][:, None], horizon + 1, axis=1)
    acts = np.zeros((n, horizon, adim), np.float32)
    rewards, success = np.zeros((n, horizon)), np.zeros((n, horizon), dtype=bool)
    unc: np.ndarray | None = None
    limit = np.full(n, horizon) if lengths is None else np.minimum(np.asarray(lengths), horizon)
    length = np.zeros(n, dtype=np.int64)
    alive = limit > 0
    nv = min(video, n)
    qpos = [[backend.qpos(i)] for i in range(nv)]
    physics = [backend.physics()] if isinstance(backend, MujocoBackend) else None
    for t in tqdm(range(horizon), desc=desc, disable=desc is None, leave=False):
        if not alive.any():
            break
        if policies:
            for i in np.flatnonzero(alive):
                acts[i, t] = np.clip(policies[i]({k: v[i] for k, v in obs.items()}), -1.0, 1.0)
        else:
            acts[alive, t] = actions[alive, t]
        out = backend.step(acts[:, t])
        obs = out.obs
        idx = np.flatnonzero(alive)
        states[idx, t + 1 :] = obs["observation"][idx, None]  # later steps repeat the last valid state
        rewards[idx, t], success[idx, t] = out.reward[idx], out.success[idx]
        if out.uncertainty is not None:
            unc = np.zeros((n, horizon)) if unc is None else unc
            unc[idx, t] = out.uncertainty[idx]
        length[idx] = t + 1
        for i in range(nv):
            qpos[i].append(backend.qpos(i) if alive[i] else qpos[i][-1])
        if physics is not None:
            physics.append(backend.physics())
        alive &= length < limit
        if stop_on_termination:
            alive &= ~out.terminated
    steps = len(qpos[0]) if nv else 0
    return Trajectories(
        states,
        acts,
        rewards,
        success,
        length,
        obs["desired_goal"].copy(),
        unc,
        np.array([q + [q[-1]] * (horizon + 1 - steps) for q in qpos]) if nv else None,
        _pad_physics(physics, horizon) if physics is not None else None,
    )


def _pad_physics(physics: list[np.ndarray], horizon: int) -> np.ndarray:
    """``(T'+1)`` snapshots of ``(N, P)`` → ``(N, T+1, P)``, repeating the last one past an early stop."""
    arr = np.stack(physics, axis=1)
    if arr.shape[1] < horizon + 1:
        arr = np.concatenate([arr, np.repeat(arr[:, -1:], horizon + 1 - arr.shape[1], axis=1)], axis=1)
    return arr


@dataclass
class PairedRun:
    """One policy on identical starts: the twin (closed loop = the truth), the model replaying the twin's
    actions (open loop), and the model under the same policy on its own observations (closed loop)."""

    truth: Trajectories
    open_loop: Trajectories | None
    closed_loop: Trajectories | None


def paired_run(
    truth: MujocoBackend,
    pred: Backend,
    starts: Sequence[StartState],
    policy: PolicyFactory,
    horizon: int,
    *,
    open_loop: bool = True,
    closed_loop: bool = True,
    video: int = 0,
    progress: bool = False,
    label: str = "",
) -> PairedRun:
    """Truth rollout, then (each optional) the open-loop replay and the closed-loop rollout in ``pred``."""

    def desc(s: str) -> str | None:
        return f"{label}{s}" if progress else None

    t = rollout(truth, starts, horizon, policy=policy, video=video, desc=desc("mujoco"))
    o = (
        rollout(
            pred,
            starts,
            horizon,
            actions=t.actions,
            lengths=t.length,
            video=video,
            stop_on_termination=False,
            desc=desc("model open loop"),
        )
        if open_loop
        else None
    )
    c = rollout(pred, starts, horizon, policy=policy, desc=desc("model closed loop")) if closed_loop else None
    return PairedRun(t, o, c)
