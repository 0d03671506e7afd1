"""Markdown tables of the contact and held-out-action suite (:mod:`cosmos3_gym.validation.suite`).

Each function takes a list of rows as the suite's runners return them (one per embodiment × task, or
one per embodiment for the pooled families) and returns table lines; ``benchmarks/fidelity.py`` and the
validation report use the same tables. Cells are medians in mm unless named otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from cosmos3_gym.validation.contact import EVENTS, REPORT_STEPS
from cosmos3_gym.validation.families import FAMILIES, IN_DISTRIBUTION
from cosmos3_gym.validation.suite import FAMILY_STEPS, pooled_families


def _mm(cell: dict | None, p90: bool = False) -> str:
    if not cell or cell.get("median") is None:
        return "–"
    return f"{cell['median']:.1f} ({cell['p90']:.1f})" if p90 else f"{cell['median']:.1f}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def expert_table(rows: Sequence[dict]) -> list[str]:
    """Closed-loop expert agreement: success in each, agreement, TCP / cube error at 16 and 64 steps."""
    lines = [
        "| embodiment | task | episodes | success MuJoCo | success model | agreement "
        "| TCP @16 | TCP @64 | cube @16 | cube @64 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        e = r["errors"]
        lines.append(
            f"| {r['embodiment']} | {r['task']} | {r['episodes']} | {_pct(r['success_mujoco'])} "
            f"| {_pct(r['success_model'])} | {r['success_agreement']:.2f} | {_mm(e['tcp_pos_mm'].get('16'))} "
            f"| {_mm(e['tcp_pos_mm'].get('64'))} | {_mm(e['cube_pos_mm'].get('16'))} "
            f"| {_mm(e['cube_pos_mm'].get('64'))} |"
        )
    return lines


def contact_table(rows: Sequence[dict], per_event: bool = True, overall: bool = True) -> list[str]:
    """Contact-anchored windows: cube and gripper error at 1 / 16 steps, overall and / or per event."""
    a, b = (str(s) for s in REPORT_STEPS)
    lines = [
        f"| embodiment | task | event | windows | cube @{a} | cube @{b} | gripper @{a} | gripper @{b} | TCP @{b} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r["contact_windows"]
        groups = [("overall", c["overall"])] if overall else []
        if per_event:
            groups += [(ev, c["events"][ev]) for ev in EVENTS if ev in c["events"]]
        for name, t in groups:
            if not t:
                lines.append(f"| {r['embodiment']} | {r['task']} | {name} | 0 | – | – | – | – | – |")
                continue
            n = t["cube_pos_mm"][a]["n"]
            g = t.get("gripper_mm", {})
            lines.append(
                f"| {r['embodiment']} | {r['task']} | {name} | {n} | {_mm(t['cube_pos_mm'][a])} "
                f"| {_mm(t['cube_pos_mm'][b], True)} | {_mm(g.get(a))} | {_mm(g.get(b), True)} "
                f"| {_mm(t['tcp_pos_mm'][b])} |"
            )
    return lines


def success_table(rows: Sequence[dict]) -> list[str]:
    """Open-loop success agreement of the replayed perturbed-expert episodes."""
    lines = [
        "| embodiment | task | episodes | success MuJoCo | success model | agreement | MuJoCo only | model only |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        o = r["open_loop_success"]
        lines.append(
            f"| {r['embodiment']} | {r['task']} | {o['episodes']} | {_pct(o['success_mujoco'])} "
            f"| {_pct(o['success_model'])} | {o['success_agreement']:.2f} | {o['mujoco_only']} | {o['model_only']} |"
        )
    return lines


def family_table(
    pooled: dict[str, dict[str, dict]], families: Sequence[str] = (IN_DISTRIBUTION, *FAMILIES)
) -> list[str]:
    """Open-loop TCP error at 16 / 64 steps per family, ``pooled`` = ``{label: {family: {step: stats}}}``
    (label: an embodiment, or ``embodiment task``); the in-distribution family first."""
    a, b = (str(s) for s in FAMILY_STEPS)
    head = " | ".join(f"{f}{' (in distribution)' if f == IN_DISTRIBUTION else ''} @{a} / @{b}" for f in families)
    lines = [f"| row | episodes | {head} |", "|---|---|" + "---|" * len(families)]
    for label, by_fam in pooled.items():
        n = next((by_fam[f][a]["n"] for f in families if f in by_fam), 0)
        cells = [f"{_mm(by_fam.get(f, {}).get(a))} / {_mm(by_fam.get(f, {}).get(b))}" for f in families]
        lines.append(f"| {label} | {n} | " + " | ".join(cells) + " |")
    return lines


def suite_markdown(s: dict) -> list[str]:
    """The validation report's section for :func:`~cosmos3_gym.validation.suite.validate_suite`."""
    lines = [
        "## Contact and held-out actions",
        "",
        f"Seed split `{s['split']}`. Medians in mm, (p90) where shown.",
        "",
    ]
    if "expert_agreement" in s:
        lines += ["Closed loop, the scripted expert on each backend's own observations:", ""]
        lines += [*expert_table([s["expert_agreement"]]), ""]
    if "contact" in s:
        c = s["contact"]
        lines += [
            f"Contact-anchored windows ({c['contact_windows']['lead']} steps before each event, "
            f"{c['policy']} twin episodes, open loop):",
            "",
            *contact_table([c]),
            "",
            "Open-loop success agreement (the same episodes replayed from their start):",
            "",
            *success_table([c]),
            "",
        ]
    if "action_families" in s:
        row = s["action_families"]
        lines += [
            "Open-loop TCP error from reset under held-out action families:",
            "",
            *family_table({f"{row['embodiment']} {row['task']}": pooled_families([row])}),
            "",
        ]
    return lines
