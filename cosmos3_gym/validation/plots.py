"""PNG plots of a validation run (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cosmos3_gym.embodiment.layout import ObsLayout
from cosmos3_gym.validation.metrics import QUANTITIES, UNITS
from cosmos3_gym.validation.rollouts import PairedRun

#: Episodes drawn in the per-dimension trace plot.
TRACE_EPISODES = 3


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_error_vs_horizon(path: Path, title: str, curves: dict[str, dict[str, np.ndarray]]) -> None:
    """Median error per step with the 10–90 % band (open loop), closed-loop median dashed."""
    plt = _plt()
    fig, axes = plt.subplots(2, 3, figsize=(12, 6), dpi=100)
    for ax, q in zip(axes.ravel(), QUANTITIES, strict=True):
        steps = np.arange(len(curves["open_loop"][q]))
        c = curves["open_loop"][q]
        ax.fill_between(steps, c[:, 0], c[:, 2], alpha=0.25, label="open loop 10–90 %")
        ax.plot(steps, c[:, 1], label="open loop median")
        ax.plot(steps, curves["closed_loop"][q][:, 1], "--", label="closed loop median")
        ax.set_title(UNITS[q])
        ax.set_xlabel("steps after start")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_traces(path: Path, title: str, run: PairedRun, layout: ObsLayout) -> None:
    """TCP xyz, cube xyz and gripper width over time: MuJoCo solid, model (open loop) dashed."""
    plt = _plt()
    dims = [("tcp_pos", i, f"TCP {'xyz'[i]} (m)") for i in range(3)] + [
        ("cube_pos", i, f"cube {'xyz'[i]} (m)") for i in range(3)
    ]
    if "gripper_width" in layout.parts:
        dims.append(("gripper_width", 0, "gripper (m)"))
    eps = list(range(min(TRACE_EPISODES, len(run.truth.length))))
    fig, axes = plt.subplots(
        len(dims), len(eps), figsize=(4 * len(eps), 1.6 * len(dims)), dpi=90, squeeze=False, sharex=True
    )
    for col, e in enumerate(eps):
        n = int(run.truth.length[e]) + 1
        for row, (part, i, label) in enumerate(dims):
            ax = axes[row, col]
            get = (
                (lambda s, p=part: layout.arm(s, p, 0))
                if part in ("tcp_pos", "gripper_width")
                else (lambda s, p=part: layout.get(s, p))
            )
            ax.plot(get(run.truth.states[e, :n])[:, i], "k-", lw=1.2, label="MuJoCo")
            ax.plot(get(run.open_loop.states[e, :n])[:, i], "C1--", lw=1.2, label="model")
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel(label, fontsize=8)
            if row == 0:
                ax.set_title(f"episode {e}", fontsize=9)
    axes[-1, 0].set_xlabel("step")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_ranking(path: Path, title: str, ranking: dict[str, Any]) -> None:
    """Per policy: model vs MuJoCo success rate and mean return (the diagonal = perfect agreement)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), dpi=100)
    for ax, key, label in ((axes[0], "success", "success rate"), (axes[1], "return", "mean return")):
        x = np.array([p[f"{key}_mujoco"] for p in ranking["policies"]])
        y = np.array([p[f"{key}_model"] for p in ranking["policies"]])
        ax.scatter(x, y)
        for p, xi, yi in zip(ranking["policies"], x, y, strict=True):
            ax.annotate(p["policy"], (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k:", lw=1)
        ax.set_xlabel(f"MuJoCo {label}")
        ax.set_ylabel(f"model {label}")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_calibration(path: Path, title: str, cal: dict[str, Any]) -> None:
    """Median and mean error per uncertainty quintile."""
    plt = _plt()
    q = [b for b in cal["quintiles"] if b["n"]]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    x = np.arange(len(q))
    ax.bar(x - 0.2, [b["error_median_mm"] for b in q], 0.4, label="median error")
    ax.bar(x + 0.2, [b["error_mean_mm"] for b in q], 0.4, label="mean error")
    ax.set_xticks(x, [f"{b['uncertainty_mean_mm']:.1f}" for b in q])
    ax.set_xlabel("mean predicted uncertainty of the quintile (mm)")
    ax.set_ylabel("position error (mm)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_plots(
    out: Path, report: dict[str, Any], run: PairedRun, curves: dict[str, dict[str, np.ndarray]], layout: ObsLayout
) -> dict[str, str]:
    """All PNGs of a run; returns ``{artifact: file name}``."""
    name = report["env_id"]
    files = {}
    plot_error_vs_horizon(out / "error_vs_horizon.png", f"{name}: model − MuJoCo vs steps", curves)
    files["error_vs_horizon"] = "error_vs_horizon.png"
    plot_traces(out / "traces.png", f"{name}: MuJoCo (solid) vs model (dashed), same actions", run, layout)
    files["traces"] = "traces.png"
    if "policies" in report["ranking"]:
        plot_ranking(out / "ranking.png", f"{name}: policy ranking", report["ranking"])
        files["ranking_plot"] = "ranking.png"
    if report["calibration"].get("quintiles"):
        plot_calibration(out / "calibration.png", f"{name}: error by uncertainty quintile", report["calibration"])
        files["calibration_plot"] = "calibration.png"
    return files
