"""Does the model agree with MuJoCo on outcomes, not just on states?

- :func:`closed_loop_agreement`: one policy (the scripted expert) acts on each backend's own
  observations from identical starts: success in each, how often they agree, and how far the TCP and
  the cube have drifted apart along the way (steps 16 and 64);
- :func:`open_loop_errors`: the twin's actions replayed in the model from the same starts; position
  errors at given steps, and success agreement at each episode's end (``open-loop success agreement``
  when the twin's policy is the perturbed expert; TCP error under the held-out action families).

Every function takes the predicted side as a :data:`~cosmos3_gym.validation.backends.BackendFactory`
(``n -> Backend``): the learned core, or the twin itself (the oracle: zero error, agreement 1.0).
Positions are compared on the first (task) arm; errors in mm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cosmos3_gym.embodiment.layout import ObsLayout
from cosmos3_gym.sim.policies import PolicyFactory
from cosmos3_gym.validation.backends import BackendFactory, MujocoBackend, StartState
from cosmos3_gym.validation.rollouts import Trajectories, rollout

#: Steps along an episode at which closed-loop drift is reported.
ALONG = (16, 64)


def position_errors(layout: ObsLayout, pred: np.ndarray, true: np.ndarray) -> dict[str, np.ndarray]:
    """First-arm TCP, cube and gripper-opening errors (mm) between state arrays ``(..., S)`` → ``(...)``."""
    out = {
        "tcp_pos_mm": 1e3 * np.linalg.norm(layout.arm(pred, "tcp_pos", 0) - layout.arm(true, "tcp_pos", 0), axis=-1),
        "cube_pos_mm": 1e3 * np.linalg.norm(layout.get(pred, "cube_pos") - layout.get(true, "cube_pos"), axis=-1),
    }
    if "gripper_width" in layout.parts:
        diff = layout.arm(pred, "gripper_width", 0) - layout.arm(true, "gripper_width", 0)
        out["gripper_mm"] = 1e3 * np.abs(diff)[..., 0]
    return out


def stats(x: np.ndarray | Sequence[float]) -> dict[str, float | int | None]:
    """Median, 90th percentile and count of the finite values (None where there are none)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"median": None, "p90": None, "n": 0}
    return {"median": float(np.median(x)), "p90": float(np.percentile(x, 90)), "n": int(x.size)}


def errors_at(err: dict[str, np.ndarray], length: np.ndarray, steps: Sequence[int]) -> dict[str, dict[str, dict]]:
    """``{quantity: {step: stats}}`` from per-step errors ``(N, T+1)``, over the episodes that lasted
    ``step`` steps (steps past the arrays are left out)."""
    out: dict[str, dict[str, dict]] = {}
    for q, e in err.items():
        out[q] = {str(s): stats(e[length >= s, s]) for s in steps if s < e.shape[1]}
    return out


def success_table(truth: np.ndarray, model: np.ndarray) -> dict[str, float | int]:
    """Final success ``(N,)`` bool of each side → rates, agreement and the two kinds of disagreement."""
    truth, model = np.asarray(truth, bool), np.asarray(model, bool)
    return {
        "episodes": int(truth.size),
        "success_mujoco": float(truth.mean()),
        "success_model": float(model.mean()),
        "success_agreement": float((truth == model).mean()),
        "mujoco_only": int((truth & ~model).sum()),
        "model_only": int((model & ~truth).sum()),
    }


def closed_loop_agreement(
    truth: MujocoBackend,
    pred: BackendFactory,
    starts: Sequence[StartState],
    policy: PolicyFactory,
    horizon: int,
    steps: Sequence[int] = ALONG,
    truth_run: Trajectories | None = None,
) -> dict:
    """Run ``policy`` closed loop in the twin ``truth`` and in ``pred(len(starts))`` from ``starts`` for up
    to ``horizon`` steps (ending at termination); success table + TCP/cube error at ``steps``. ``truth_run``:
    the twin's run of this policy from these starts, when the caller already has it (compared against several
    models)."""
    t = truth_run if truth_run is not None else rollout(truth, starts, horizon, policy=policy)
    backend = pred(len(starts))
    try:
        m = rollout(backend, starts, horizon, policy=policy)
    finally:
        backend.close()
    err = position_errors(truth.layout, m.states, t.states)
    err.pop("gripper_mm", None)
    return {
        **success_table(t.final_success(), m.final_success()),
        "errors": errors_at(err, np.minimum(t.length, m.length), steps),
    }


def open_loop_errors(
    truth: Trajectories,
    layout: ObsLayout,
    pred: BackendFactory,
    starts: Sequence[StartState],
    steps: Sequence[int],
    values: Sequence[str] = (),
) -> dict:
    """Replay the twin's recorded actions ``truth.actions`` in ``pred`` from the same ``starts`` (to each
    episode's length): position errors at ``steps`` and the success table at the episode ends.
    ``values``: quantities whose per-episode errors at ``steps`` are returned too (``"values"``, mm), so
    that rows can be pooled."""
    backend = pred(len(starts))
    try:
        o = rollout(
            backend,
            starts,
            truth.actions.shape[1],
            actions=truth.actions,
            lengths=truth.length,
            stop_on_termination=False,
        )
    finally:
        backend.close()
    err = position_errors(layout, o.states, truth.states)
    out = {
        **success_table(truth.final_success(), o.final_success()),
        "errors": errors_at(err, truth.length, steps),
    }
    if values:
        out["values"] = {
            q: {
                str(s): [round(float(x), 3) for x in err[q][truth.length >= s, s]] for s in steps if s < err[q].shape[1]
            }
            for q in values
        }
    return out
