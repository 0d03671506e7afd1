"""Errors between predicted and MuJoCo trajectories, per horizon, and the statistics built on them.

Quantities per (episode, step), averaged over the controlled arms where per-arm:
``tcp_pos_mm`` (Euclidean), ``tcp_rot_deg`` (geodesic angle), ``gripper_mm`` (|width difference|),
``cube_pos_mm``, ``cube_rot_deg``, ``joint_pos_rad`` (mean |difference| over the robot's joints; metres
for prismatic joints). Statistics per horizon: median, 90th percentile and max over episodes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cosmos3_gym.embodiment.layout import ObsLayout
from cosmos3_gym.tokens.rotation import rot6d_to_matrix
from cosmos3_gym.validation.rollouts import Trajectories

QUANTITIES = ("tcp_pos_mm", "tcp_rot_deg", "gripper_mm", "cube_pos_mm", "cube_rot_deg", "joint_pos_rad")
#: Axis labels of the quantities in tables and plots.
UNITS = {
    "tcp_pos_mm": "TCP position (mm)",
    "tcp_rot_deg": "TCP rotation (deg)",
    "gripper_mm": "gripper (mm)",
    "cube_pos_mm": "cube position (mm)",
    "cube_rot_deg": "cube rotation (deg)",
    "joint_pos_rad": "joint positions (rad)",
}
HORIZONS: tuple[int | str, ...] = (1, 4, 16, 64, "end")


def _angle_deg(a6: np.ndarray, b6: np.ndarray) -> np.ndarray:
    """Geodesic angle (deg) between rotations given as rot6d ``(..., 6)``."""
    ra, rb = rot6d_to_matrix(a6), rot6d_to_matrix(b6)
    # ‖Ra − Rb‖_F = 2√2 sin(θ/2): exact zero for equal inputs and well conditioned at small angles,
    # unlike arccos((tr(RaᵀRb) − 1) / 2).
    chord = np.linalg.norm(ra - rb, axis=(-2, -1)) / (2 * np.sqrt(2))
    return np.degrees(2 * np.arcsin(np.clip(chord, 0.0, 1.0)))


def step_errors(layout: ObsLayout, pred: np.ndarray, true: np.ndarray) -> dict[str, np.ndarray]:
    """Per-step errors ``{quantity: (N, T+1)}`` between state arrays ``(N, T+1, S)``."""
    arms = layout.num_arms
    out: dict[str, np.ndarray] = {}

    def per_arm(part: str, fn) -> np.ndarray:
        return np.mean([fn(layout.arm(pred, part, a), layout.arm(true, part, a)) for a in range(arms)], axis=0)

    out["tcp_pos_mm"] = 1000 * per_arm("tcp_pos", lambda p, t: np.linalg.norm(p - t, axis=-1))
    out["tcp_rot_deg"] = (
        per_arm("tcp_rot6d", _angle_deg) if "tcp_rot6d" in layout.parts else np.full(pred.shape[:2], np.nan)
    )
    out["gripper_mm"] = (
        1000 * per_arm("gripper_width", lambda p, t: np.abs(p - t)[..., 0])
        if "gripper_width" in layout.parts
        else np.full(pred.shape[:2], np.nan)
    )
    out["cube_pos_mm"] = 1000 * np.linalg.norm(layout.get(pred, "cube_pos") - layout.get(true, "cube_pos"), axis=-1)
    out["cube_rot_deg"] = (
        _angle_deg(layout.get(pred, "cube_rot6d"), layout.get(true, "cube_rot6d"))
        if "cube_rot6d" in layout.parts
        else np.full(pred.shape[:2], np.nan)
    )
    out["joint_pos_rad"] = np.abs(layout.get(pred, "joint_pos") - layout.get(true, "joint_pos")).mean(-1)
    return out


def _stats(x: np.ndarray) -> dict[str, float | int | None]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"median": None, "p90": None, "max": None, "n": 0}
    return {"median": float(np.median(x)), "p90": float(np.percentile(x, 90)), "max": float(x.max()), "n": int(x.size)}


def horizon_table(
    errors: dict[str, np.ndarray], length: np.ndarray, horizons: Sequence[int | str] = HORIZONS
) -> dict[str, dict[str, dict]]:
    """``{quantity: {horizon: {median, p90, max, n}}}`` over episodes that lasted at least that many steps;
    ``"end"`` takes each episode's last valid step. Horizons longer than the arrays are left out."""
    steps = next(iter(errors.values())).shape[1] - 1
    table: dict[str, dict[str, dict]] = {}
    for q, err in errors.items():
        row = {}
        for h in horizons:
            if h == "end":
                row["end"] = _stats(err[np.arange(len(length)), length])
            elif int(h) <= steps:
                row[str(h)] = _stats(err[length >= int(h), int(h)])
        table[q] = row
    return table


def error_curves(errors: dict[str, np.ndarray], length: np.ndarray) -> dict[str, np.ndarray]:
    """``{quantity: (T+1, 3)}`` 10th percentile, median, 90th percentile per step (valid episodes only)."""
    steps = next(iter(errors.values())).shape[1]
    valid = np.arange(steps)[None] <= length[:, None]
    out = {}
    for q, err in errors.items():
        curve = np.full((steps, 3), np.nan)
        for t in range(steps):
            x = err[valid[:, t], t]
            x = x[np.isfinite(x)]
            if x.size:
                curve[t] = np.percentile(x, [10, 50, 90])
        out[q] = curve
    return out


def outcome_stats(truth: Trajectories, pred: Trajectories) -> dict[str, float]:
    """Success agreement (fraction of episodes where both backends agree on final success), success
    rates, and the return gap (model − MuJoCo, undiscounted dense return) mean, mean |·|."""
    st, sp = truth.final_success(), pred.final_success()
    rt, rp = truth.returns(), pred.returns()
    return {
        "episodes": len(st),
        "success_mujoco": float(st.mean()),
        "success_model": float(sp.mean()),
        "success_agreement": float((st == sp).mean()),
        "return_mujoco": float(rt.mean()),
        "return_model": float(rp.mean()),
        "return_gap": float((rp - rt).mean()),
        "return_gap_abs": float(np.abs(rp - rt).mean()),
    }


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as ``scipy.stats.rankdata``)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def correlations(x: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    """Pearson and Spearman correlation of two samples; None where undefined (fewer than 3 points or a
    constant sample)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]

    def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
        if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
            return None
        return float(np.corrcoef(a, b)[0, 1])

    return {
        "pearson": pearson(x, y),
        "spearman": pearson(rankdata(x), rankdata(y)) if len(x) >= 3 else None,
        "n": len(x),
    }


def position_error_m(layout: ObsLayout, pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Mean of first-arm TCP and cube position errors (m) ``(N, T+1)``: the quantity the core's
    ``model_uncertainty`` estimates (mean sample spread over the same two positions)."""
    tcp = np.linalg.norm(layout.arm(pred, "tcp_pos", 0) - layout.arm(true, "tcp_pos", 0), axis=-1)
    cube = np.linalg.norm(layout.get(pred, "cube_pos") - layout.get(true, "cube_pos"), axis=-1)
    return (tcp + cube) / 2


def calibration(uncertainty: np.ndarray, error: np.ndarray, length: np.ndarray, bins: int = 5) -> dict:
    """Does higher predicted uncertainty go with higher error? ``uncertainty`` ``(N, T)`` for steps 1..T,
    ``error`` ``(N, T)`` (m) of the same steps. Rank correlation over all valid steps (errors grow along a
    rollout, so this rewards knowing that too), the mean rank correlation across episodes at the same step
    (``spearman_within_step``: which episodes are worse, time held fixed; steps with >= 5 episodes), and the
    error by uncertainty quintile."""
    valid = np.arange(uncertainty.shape[1])[None] < length[:, None]
    u, e = uncertainty[valid], error[valid]
    out: dict = {"steps": int(u.size), **{f"{k}": v for k, v in correlations(u, e).items() if k != "n"}}
    per_step = [
        correlations(uncertainty[valid[:, t], t], error[valid[:, t], t])["spearman"]
        for t in range(uncertainty.shape[1])
        if valid[:, t].sum() >= 5
    ]
    per_step = [r for r in per_step if r is not None]
    out["spearman_within_step"] = float(np.mean(per_step)) if per_step else None
    if u.size < bins:
        out["quintiles"] = []
        return out
    edges = np.quantile(u, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, bins - 1)
    out["quintiles"] = [
        {
            "bin": b + 1,
            "uncertainty_lo_mm": 1000 * float(edges[b]),
            "uncertainty_hi_mm": 1000 * float(edges[b + 1]),
            "uncertainty_mean_mm": 1000 * float(u[which == b].mean()) if (which == b).any() else None,
            "error_median_mm": 1000 * float(np.median(e[which == b])) if (which == b).any() else None,
            "error_mean_mm": 1000 * float(e[which == b].mean()) if (which == b).any() else None,
            "n": int((which == b).sum()),
        }
        for b in range(bins)
    ]
    return out


class HorizonWarning(UserWarning):
    """A validation metric that the report's horizon makes meaningless (also listed in ``report["warnings"]``)."""


def horizon_warnings(report: dict) -> list[str]:
    """Metrics of a validation report that its horizon leaves meaningless, as sentences: a MuJoCo success
    that is the same for every ranking policy, the expert included (e.g. 0 % for all: Lift needs more than
    16 steps), makes the success ranking compare nothing."""
    rows = report.get("ranking", {}).get("policies", [])
    rates = {r["success_mujoco"] for r in rows}
    if len(rows) < 2 or len(rates) > 1:
        return []
    h, limit = report["horizon"], report["max_episode_steps"]
    fix = (
        f"--horizon {h} is short for {report['env_id']} (episodes run up to {limit} steps); use a longer one"
        if h < limit
        else "choose ranking policies of differing quality"
    )
    return [
        f"every ranking policy succeeds on {rates.pop():.0%} in MuJoCo within {h} steps: the success "
        f"ranking is meaningless; {fix}"
    ]
