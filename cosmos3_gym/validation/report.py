"""Validation outputs: report.json, CSV tables, PNG plots, an MP4, and a one-page report.md linking them."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from cosmos3_gym.embodiment.layout import ObsLayout
from cosmos3_gym.validation.metrics import QUANTITIES, UNITS
from cosmos3_gym.validation.rollouts import PairedRun


def _csv(path: Path, rows: list[dict[str, Any]]) -> str:
    with path.open("w", newline="") as f:
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return path.name


def _fmt(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def write_tables(out: Path, report: dict[str, Any], curves: dict[str, dict[str, np.ndarray]]) -> dict[str, str]:
    """CSV tables; returns ``{name: file name}``."""
    files: dict[str, str] = {}
    rows = [
        {"mode": mode, "quantity": q, "horizon": h, **stats}
        for mode in ("open_loop", "closed_loop")
        for q, by_h in report[mode]["errors"].items()
        for h, stats in by_h.items()
    ]
    files["horizon_errors"] = _csv(out / "horizon_errors.csv", rows)
    rows = [
        {"mode": mode, "quantity": q, "step": t, "p10": c[t, 0], "median": c[t, 1], "p90": c[t, 2]}
        for mode, by_q in curves.items()
        for q, c in by_q.items()
        for t in range(len(c))
    ]
    files["error_curves"] = _csv(out / "error_curves.csv", rows)
    if "policies" in report["ranking"]:
        files["ranking"] = _csv(out / "ranking.csv", report["ranking"]["policies"])
    rows = [
        {
            "scenario": r["scenario"],
            "episodes": r["episodes"],
            "success_agreement": r["success_agreement"],
            **{f"{q}_{s}": r["errors"][q][s] for q in QUANTITIES for s in ("median", "p90")},
        }
        for r in report["scenarios"]["rows"]
    ]
    files["scenarios"] = _csv(out / "scenarios.csv", rows)
    if report["inverse_dynamics"].get("rows"):
        files["inverse_dynamics"] = _csv(out / "inverse_dynamics.csv", report["inverse_dynamics"]["rows"])
    if report["calibration"].get("quintiles"):
        files["calibration"] = _csv(out / "calibration.csv", report["calibration"]["quintiles"])
    return files


def write_outputs(
    out: Path,
    report: dict[str, Any],
    run: PairedRun,
    curves: dict[str, dict[str, np.ndarray]],
    layout: ObsLayout,
    embodiment: str,
    task: str,
    video_episodes: int = 2,
    plots: bool = True,
    started: float | None = None,
) -> dict[str, str]:
    """Write everything into ``out``; returns ``{artifact: file name}`` (also stored in report.json).

    ``started``: ``time.time()`` at the start of the run; ``report["wall_s"]`` is then updated in place to
    include the writing (plots and video) before report.json and report.md record it."""
    out.mkdir(parents=True, exist_ok=True)
    files = write_tables(out, report, curves)
    if plots:
        from cosmos3_gym.validation.plots import write_plots

        files.update(write_plots(out, report, run, curves, layout))
    if video_episodes > 0 and run.truth.qpos is not None:
        from cosmos3_gym.validation.video import write_video

        try:
            files["video"] = write_video(out / "episodes.mp4", run, embodiment, task)
        except Exception as exc:  # no GL context or no ffmpeg: keep the numbers, say why the video is missing
            files["video_error"] = f"{type(exc).__name__}: {exc}"
    files["report_json"], files["report_md"] = "report.json", "report.md"
    if started is not None:
        report["wall_s"] = round(time.time() - started, 2)
    report = {**report, "files": files}
    (out / "report.json").write_text(json.dumps(report, indent=1, default=_json_default))
    (out / "report.md").write_text(markdown(report))
    return files


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


def _error_table(errors: dict[str, dict[str, dict]]) -> list[str]:
    horizons = list(next(iter(errors.values())))
    lines = ["| quantity | " + " | ".join(f"h={h}" for h in horizons) + " |", "|---|" + "---|" * len(horizons)]
    for q, by_h in errors.items():
        cells = [f"{_fmt(by_h[h]['median'])} / {_fmt(by_h[h]['p90'])} / {_fmt(by_h[h]['max'])}" for h in horizons]
        lines.append(f"| {UNITS[q]} | " + " | ".join(cells) + " |")
    return lines


def markdown(r: dict[str, Any]) -> str:
    """The one-page report."""
    f = r.get("files", {})
    link = lambda key, text: f"[{text}]({f[key]})" if key in f else text  # noqa: E731
    lines = [
        f"# Validation: {r['env_id']} — world model vs MuJoCo",
        "",
        f"Model `{r['model']}`, policy `{r['policy']}`, {r['episodes']} episodes × up to {r['horizon']} steps "
        f"(seeds {r['seed']}…{r['seed'] + r['episodes'] - 1}), {r['wall_s']:.1f} s. "
        f"Machine-readable: {link('report_json', 'report.json')}.",
        "",
        *[f"**Warning:** {w}\n" for w in r.get("warnings", [])],
        "## Open loop (the twin's actions replayed in the model from identical starts)",
        "",
        "Cells: median / 90th percentile / max over episodes at h steps after the start "
        f"({link('horizon_errors', 'CSV')}, per-step curves {link('error_curves', 'CSV')}).",
        "",
        *_error_table(r["open_loop"]["errors"]),
        "",
    ]
    if "error_vs_horizon" in f:
        lines += [f"![error vs horizon]({f['error_vs_horizon']})", ""]
    lines += [
        "## Closed loop (the policy acting on each backend's own observations)",
        "",
        "The two sides choose their own actions, so their states drift apart as their actions do: the "
        "errors below measure end-to-end drift; the outcome table measures what RL sees.",
        "",
        *_error_table(r["closed_loop"]["errors"]),
        "",
    ]
    lines += [
        "| run | success MuJoCo | success model | agreement | return MuJoCo | return model | return gap |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in ("open_loop", "closed_loop"):
        o = r[mode]["outcome"]
        lines.append(
            f"| {mode.replace('_', ' ')} | {o['success_mujoco']:.2f} | {o['success_model']:.2f} | "
            f"{o['success_agreement']:.2f} | {o['return_mujoco']:.2f} | {o['return_model']:.2f} | "
            f"{o['return_gap']:+.2f} |"
        )
    lines.append("")
    if "traces" in f:
        lines += [f"Per-dimension traces of a few episodes: ![traces]({f['traces']})", ""]
    if "video" in f:
        lines += [
            f"Video ({link('video', f['video'])}): MuJoCo twin left, the model's predicted state right "
            "(same actions, open loop).",
            "",
        ]
    elif "video_error" in f:
        lines += [f"No video: {f['video_error']}", ""]
    lines += ["## Does the model rank policies like physics does?", ""]
    rk = r["ranking"]
    if "policies" in rk:
        lines += [
            f"Closed loop, {rk['episodes']} episodes per policy ({link('ranking', 'CSV')}).",
            "",
            "| policy | success MuJoCo | success model | return MuJoCo | return model |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {p['policy']} | {p['success_mujoco']:.2f} | {p['success_model']:.2f} | "
            f"{p['return_mujoco']:.2f} | {p['return_model']:.2f} |"
            for p in rk["policies"]
        ]
        lines += [
            "",
            f"Success rate model vs MuJoCo: Spearman {_fmt(rk['success']['spearman'])}, Pearson "
            f"{_fmt(rk['success']['pearson'])}; mean return: Spearman {_fmt(rk['return']['spearman'])}, "
            f"Pearson {_fmt(rk['return']['pearson'])} (– = undefined: a constant column).",
            "",
        ]
    else:
        lines += [f"Skipped: {rk['skipped']}", ""]
    lines += ["## Inverse dynamics", ""]
    idc = r["inverse_dynamics"]
    if "tcp_error_mm" in idc:
        e = idc["tcp_error_mm"]
        lines += [
            f"{idc['chunks']} chunks of 16 steps: inferred actions replayed in MuJoCo from the true start; TCP "
            f"error at the chunk end median {e['median']:.1f} mm, p90 {e['p90']:.1f} mm, max {e['max']:.1f} mm "
            f"(TCP moved {idc['tcp_motion_mm_median']:.1f} mm per chunk, median; "
            f"{link('inverse_dynamics', 'CSV')}).",
            "",
        ]
    else:
        lines += [f"Skipped: {idc.get('skipped') or idc.get('note')}", ""]
    lines += ["## Uncertainty calibration", ""]
    cal = r["calibration"]
    if "skipped" in cal:
        lines += [f"Skipped: {cal['skipped']}", ""]
    else:
        lines += [
            f"Spearman(uncertainty, error) over {cal['steps']} open-loop steps: {_fmt(cal['spearman'])} "
            f"(Pearson {_fmt(cal['pearson'])}); across episodes at the same step "
            f"{_fmt(cal.get('spearman_within_step'))} (mean over steps); error = mean of TCP and cube position errors "
            f"({link('calibration', 'CSV')}).",
            "",
            "| quintile | uncertainty (mm) | median error (mm) | n |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {q['bin']} | {_fmt(q['uncertainty_mean_mm'])} | {_fmt(q['error_median_mm'])} | {q['n']} |"
            for q in cal["quintiles"]
        ]
        lines.append("")
        if "calibration_plot" in f:
            lines += [f"![calibration]({f['calibration_plot']})", ""]
    sc = r["scenarios"]
    lines += [
        "## Out of distribution: held-out scenarios",
        "",
        f"Open loop, median (p90) error at {sc['horizon']} steps ({link('scenarios', 'CSV')}).",
        "",
        "| scenario | episodes | "
        + " | ".join(UNITS[q] for q in QUANTITIES)
        + " | TCP / cube error vs nominal | success agreement |",
        "|---|---|" + "---|" * (len(QUANTITIES) + 2),
    ]
    for row in sc["rows"]:
        cells = [f"{_fmt(row['errors'][q]['median'])} ({_fmt(row['errors'][q]['p90'])})" for q in QUANTITIES]
        ratio = " / ".join(
            f"x{_fmt(row['vs_nominal'][q])}" if row["vs_nominal"][q] is not None else "–"
            for q in ("tcp_pos_mm", "cube_pos_mm")
        )
        lines.append(
            f"| {row['scenario']} | {row['episodes']} | "
            + " | ".join(cells)
            + f" | {ratio} | {row['success_agreement']:.2f} |"
        )
    lines += ["", *[f"- **{row['scenario']}**: {row['description']}" for row in sc["rows"]], ""]
    if "suite" in r:
        from cosmos3_gym.validation.suite_report import suite_markdown

        lines += suite_markdown(r["suite"])
    return "\n".join(lines)
