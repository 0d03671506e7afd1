"""Inverse-dynamics check: can the model's inferred actions reproduce a MuJoCo trajectory?

For each 16-step chunk of the twin's trajectories (17 states), the inverse-dynamics mode infers raw
Cosmos3 actions; each raw row becomes a native action at the TCP pose the twin really had at that step
(:meth:`NativeActionMap.from_raw`), and the chunk is replayed in MuJoCo from the same start state
(``set_state``). The error is the TCP position at the end of the chunk against the original (mm),
beside the TCP motion over the chunk (mm) for scale.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tokens.native import NativeActionMap
from cosmos3_gym.validation.rollouts import Trajectories

#: ``infer(states (B, G+1, S), goals (B, 3)) -> raw (B, G, D)``: an inverse-dynamics model.
InverseDynamics = Callable[[np.ndarray, np.ndarray], np.ndarray]


def arm_tcp(env: MujocoTwinEnv, states: np.ndarray) -> np.ndarray:
    """TCP poses of the controlled arms ``(..., arms, 4, 4)`` from state vectors ``(..., S)``."""
    return CommandPrior(env.emb).arm_tcp(states)


def recorded_raw(env: MujocoTwinEnv, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """The raw Cosmos3 actions the twin's controller commanded: native actions ``(..., A)`` at the TCP
    poses of states ``(..., S)`` → ``(..., D)``. An exact inverse-dynamics "oracle" for testing."""
    return NativeActionMap(env.emb).command(arm_tcp(env, states), np.clip(actions, -1.0, 1.0))[1]


def chunk_index(length: np.ndarray, chunk: int) -> list[tuple[int, int]]:
    """``(episode, start step)`` of every full chunk inside the valid part of each episode."""
    return [(i, t) for i, n in enumerate(length) for t in range(0, int(n) - chunk + 1, chunk)]


def inverse_dynamics_check(
    env: MujocoTwinEnv, truth: Trajectories, infer: InverseDynamics, chunk: int = 16, max_chunks: int | None = None
) -> dict:
    """Replay inferred action chunks in ``env`` (a twin of the truth's embodiment × task, same physics).

    Needs ``truth.physics`` (recorded by :class:`MujocoBackend`). Returns per-chunk rows and the
    median / p90 / max end-of-chunk TCP error (mm, mean over arms).
    """
    if truth.physics is None:
        raise ValueError("the inverse-dynamics check needs the twin's recorded physics states")
    idx = chunk_index(truth.length, chunk)[:max_chunks]
    if not idx:
        return {"chunks": 0, "rows": [], "note": f"no episode lasted a full chunk of {chunk} steps"}
    seqs = np.stack([truth.states[i, t : t + chunk + 1] for i, t in idx])
    goals = np.stack([truth.goals[i] for i, _ in idx])
    raw = infer(seqs, goals)
    if raw.shape[:2] != (len(idx), chunk):
        raise ValueError(f"inverse dynamics returned {raw.shape}, expected ({len(idx)}, {chunk}, D)")
    nmap = NativeActionMap(env.emb)
    lay = env.layout
    true_tcp = arm_tcp(env, seqs)  # (B, G+1, arms, 4, 4)
    rows = []
    for b, (i, t) in enumerate(idx):
        env.set_state({"physics": truth.physics[i, t], "goal": truth.goals[i]})
        for k in range(chunk):
            native = nmap.from_raw(true_tcp[b, k][None], raw[b, k][None])[0]
            obs, *_ = env.step(native.astype(np.float32))
        end = obs["observation"]
        err = np.mean(
            [
                np.linalg.norm(lay.arm(end, "tcp_pos", a) - lay.arm(seqs[b, -1], "tcp_pos", a))
                for a in range(lay.num_arms)
            ]
        )
        motion = np.mean(
            [
                np.linalg.norm(lay.arm(seqs[b, -1], "tcp_pos", a) - lay.arm(seqs[b, 0], "tcp_pos", a))
                for a in range(lay.num_arms)
            ]
        )
        rows.append(
            {"episode": i, "start_step": t, "tcp_error_mm": 1000 * float(err), "tcp_motion_mm": 1000 * float(motion)}
        )
    err = np.array([r["tcp_error_mm"] for r in rows])
    motion = np.array([r["tcp_motion_mm"] for r in rows])
    return {
        "chunks": len(rows),
        "tcp_error_mm": {
            "median": float(np.median(err)),
            "p90": float(np.percentile(err, 90)),
            "max": float(err.max()),
        },
        "tcp_motion_mm_median": float(np.median(motion)),
        "rows": rows,
    }


def model_inverse_dynamics(model: object, embodiment: str, task: str, device: str = "cpu") -> InverseDynamics:
    """The world model's inverse-dynamics mode (:class:`ModeRunner`) as an :data:`InverseDynamics`, in the
    deterministic mode (ε = 0) that ModeRunner and the learned envs use by default."""
    from cosmos3_gym.model import get_checkpoint
    from cosmos3_gym.model.inference import ModeRunner

    runner = ModeRunner(get_checkpoint(model, device), embodiment)
    return lambda states, goals: runner.inverse_dynamics(states, goals, task)
