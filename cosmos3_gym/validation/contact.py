"""Contact-anchored windows: open-loop errors measured where the gripper touches the cube.

Windows that start at fixed times (t0 = 0, 16, 32) mostly see a cube at rest: under the noisy expert
Franka's cube first moves around step 45. Here windows start ``lead`` steps before a contact event of
a twin episode, so the cube and gripper errors ``window`` steps later measure the contact itself.

Events (found in the twin's states, first arm; ``rest`` = the cube at step 0):

- ``first-move``: the cube is first more than 2 mm from rest (one per episode);
- ``push-onset`` (Push): the cube starts sliding (> 1 mm horizontal per step) after being still (< 0.5
  mm per step for 3 steps) — every push stroke, the first included;
- ``lift-off``: the cube rises above 5 mm over its resting height (every upward crossing: re-grasps too);
- ``release``: the gripper starts opening (> 1 mm per step) while the cube is above that height.

In Push the twin's cube rarely leaves the table: there ``lift-off`` is mostly the cube tipping up on an
edge under the pusher for a step or two (back down 3 steps later, tilted 4–7°, measured on the report
seeds), and ``release`` a noisy gripper command during such a tip. Both are contact all the same.

The model starts from the twin's state at ``t0`` with the twin's true history, and replays the twin's
actions; ``overall`` pools every distinct window (a window two events share counts once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosmos3_gym.embodiment.layout import ObsLayout
from cosmos3_gym.tasks import get_task
from cosmos3_gym.validation.agreement import position_errors, stats
from cosmos3_gym.validation.backends import BackendFactory, StartState
from cosmos3_gym.validation.rollouts import Trajectories, rollout

EVENTS = ("first-move", "push-onset", "lift-off", "release")
#: Steps a window starts before its event, and the steps after the window start that are reported.
LEAD = 4
WINDOW = 16
REPORT_STEPS = (1, 16)
#: Event thresholds (m): moved from rest, lifted above rest, per-step motion of a sliding / still cube,
#: per-step opening of the gripper.
MOVED_M, LIFTED_M = 0.002, 0.005
SLIDING_M, STILL_M, STILL_STEPS = 0.001, 0.0005, 3
OPENING_M = 0.001


@dataclass(frozen=True)
class Window:
    """One window: episode index, event name, the event's step and the window's first step ``t0``."""

    episode: int
    event: str
    t_event: int
    t0: int


def contact_events(layout: ObsLayout, states: np.ndarray, length: int, task: str) -> list[tuple[str, int]]:
    """``[(event, step)]`` of one twin episode, states ``(T+1, S)`` of which ``length + 1`` are valid."""
    s = states[: length + 1]
    cube = layout.get(s, "cube_pos")
    rest = cube[0]
    out: list[tuple[str, int]] = []
    moved = np.flatnonzero(np.linalg.norm(cube - rest, axis=-1) > MOVED_M)
    if moved.size:
        out.append(("first-move", int(moved[0])))
    if task == "push":
        slide = np.r_[0.0, np.linalg.norm(np.diff(cube[:, :2], axis=0), axis=-1)]  # step t: motion over t-1 → t
        for t in np.flatnonzero(slide > SLIDING_M):
            if t > STILL_STEPS and (slide[t - STILL_STEPS : t] < STILL_M).all():
                out.append(("push-onset", int(t)))
    lifted = cube[:, 2] - rest[2] > LIFTED_M
    out += [("lift-off", int(t)) for t in np.flatnonzero(lifted[1:] & ~lifted[:-1]) + 1]
    if "gripper_width" in layout.parts:
        width = layout.arm(s, "gripper_width", 0)[:, 0]
        opening = np.r_[False, np.diff(width) > OPENING_M]
        onset = opening & ~np.r_[False, opening[:-1]]
        out += [("release", int(t)) for t in np.flatnonzero(onset[1:] & lifted[:-1]) + 1]
    return sorted(out, key=lambda e: (e[1], EVENTS.index(e[0])))


def contact_windows(
    truth: Trajectories, layout: ObsLayout, task: str, lead: int = LEAD, window: int = WINDOW
) -> list[Window]:
    """Every event's window that fits in its episode (``t0 = max(event − lead, 0)``, ``t0 + window ≤ length``)."""
    out = []
    for i, n in enumerate(truth.length):
        for event, t in contact_events(layout, truth.states[i], int(n), task):
            t0 = max(t - lead, 0)
            if t0 + window <= n:
                out.append(Window(i, event, t, t0))
    return out


def window_starts(
    truth: Trajectories, layout: ObsLayout, starts: list[StartState], windows: list[Window], goal_part: str
) -> list[StartState]:
    """Start states at each window's ``t0`` (twin physics, observation and the true history before it)."""
    if truth.physics is None:
        raise ValueError("contact windows need the twin's physics states (a MujocoBackend rollout records them)")
    out = []
    for w in windows:
        state, goal = truth.states[w.episode, w.t0], truth.goals[w.episode]
        obs = {"observation": state, "achieved_goal": layout.achieved(state, goal_part), "desired_goal": goal}
        physics = {"physics": truth.physics[w.episode, w.t0], "goal": goal}
        out.append(StartState(starts[w.episode].seed, physics, obs, truth.states[w.episode, : w.t0]))
    return out


def contact_window_errors(
    truth: Trajectories,
    layout: ObsLayout,
    starts: list[StartState],
    pred: BackendFactory,
    task: str,
    lead: int = LEAD,
    window: int = WINDOW,
    steps: tuple[int, ...] = REPORT_STEPS,
) -> dict:
    """Open-loop errors of ``pred`` in the contact windows of the twin episodes ``truth`` (started from
    ``starts``): ``{"events": {event: {quantity: {step: stats}}}, "overall": {...}, "windows": n}``;
    quantities ``cube_pos_mm``, ``gripper_mm``, ``tcp_pos_mm`` (first arm)."""
    wins = contact_windows(truth, layout, task, lead, window)
    out: dict = {"lead": lead, "window": window, "windows": len(wins), "episodes": len(starts)}
    if not wins:
        return {**out, "events": {}, "overall": {}}
    backend = pred(len(wins))
    try:
        actions = np.stack([truth.actions[w.episode, w.t0 : w.t0 + window] for w in wins])
        o = rollout(
            backend,
            window_starts(truth, layout, starts, wins, get_task(task).goal_part),
            window,
            actions=actions,
            stop_on_termination=False,
        )
    finally:
        backend.close()
    true = np.stack([truth.states[w.episode, w.t0 : w.t0 + window + 1] for w in wins])
    err = position_errors(layout, o.states, true)
    err = {q: err[q] for q in ("cube_pos_mm", "gripper_mm", "tcp_pos_mm") if q in err}

    def table(rows: np.ndarray) -> dict:
        return {q: {str(s): stats(e[rows, s]) for s in steps} for q, e in err.items()}

    names = np.array([w.event for w in wins])
    out["events"] = {ev: table(np.flatnonzero(names == ev)) for ev in EVENTS if (names == ev).any()}
    first = {}
    for k, w in enumerate(wins):  # a window that two events share (same episode and t0) counts once
        first.setdefault((w.episode, w.t0), k)
    out["overall"] = table(np.array(sorted(first.values())))
    out["distinct_windows"] = len(first)
    return out
