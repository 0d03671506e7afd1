"""Two models side by side on the world-model v2 metrics (``fidelity.py --sections expert contact families``).

Reads two suite JSONs of the same split and writes one Markdown table per metric, ``A / B`` per cell:
closed-loop expert success agreement, contact-anchored cube and gripper error at 16 steps, open-loop
success agreement, and the TCP error at 16 steps in distribution and under each held-out action family.

    python benchmarks/compare_fidelity.py results/experiments/v10/fidelity_v2.json results/fidelity_v2.json \
        --labels v10 v12 --out results/fidelity_v2_compare.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _med(d: dict, quantity: str, horizon: str = "16") -> float | None:
    cell = d.get(quantity, {}).get(horizon)
    return None if cell is None else cell["median"]


def _cell(a: float | None, b: float | None, fmt: str) -> str:
    show = lambda x: "–" if x is None else format(x, fmt)  # noqa: E731
    return f"{show(a)} / {show(b)}"


def tables(a: dict, b: dict, labels: tuple[str, str]) -> str:
    """The Markdown comparison of suite results ``a`` and ``b``."""
    la, lb = labels
    out = [f"Cells: {la} / {lb}. Split `{a['split']}`; {la}: `{a['weights_sha256'][:12]}…`, {lb}: "
           f"`{b['weights_sha256'][:12]}…`.", ""]  # fmt: skip
    exp_b = {(r["embodiment"], r["task"]): r for r in b["expert"]}
    out += ["## Closed-loop expert success (MuJoCo / model, agreement)", ""]
    out += ["| embodiment | task | MuJoCo | model | agreement |", "|---|---|---|---|---|"]
    agree = {la: [], lb: []}
    for r in a["expert"]:
        s = exp_b[(r["embodiment"], r["task"])]
        agree[la].append(r["success_agreement"])
        agree[lb].append(s["success_agreement"])
        out.append(
            f"| {r['embodiment']} | {r['task']} | {_cell(r['success_mujoco'], s['success_mujoco'], '.2f')} | "
            f"{_cell(r['success_model'], s['success_model'], '.2f')} | "
            f"{_cell(r['success_agreement'], s['success_agreement'], '.2f')} |"
        )
    out.append(f"| mean | | | | {_cell(np.mean(agree[la]), np.mean(agree[lb]), '.2f')} |")
    con_b = {(r["embodiment"], r["task"]): r for r in b["contact"]}
    out += ["", "## Contact-anchored windows (mm at 16 steps) and open-loop success agreement", ""]
    out += ["| embodiment | task | cube @16 | gripper @16 | open-loop agreement |", "|---|---|---|---|---|"]
    for r in a["contact"]:
        s = con_b[(r["embodiment"], r["task"])]
        wa, wb = r["contact_windows"]["overall"], s["contact_windows"]["overall"]
        oa, ob = r["open_loop_success"]["success_agreement"], s["open_loop_success"]["success_agreement"]
        out.append(
            f"| {r['embodiment']} | {r['task']} | {_cell(_med(wa, 'cube_pos_mm'), _med(wb, 'cube_pos_mm'), '.1f')} | "
            f"{_cell(_med(wa, 'gripper_mm'), _med(wb, 'gripper_mm'), '.1f')} | {_cell(oa, ob, '.2f')} |"
        )
    fam_b = {(r["embodiment"], r["task"]): r for r in b["families"]}
    names = list(a["families"][0]["families"])
    out += ["", "## TCP error at 16 steps (mm, open loop): in distribution and held-out action families", ""]
    out += ["| embodiment | task | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for r in a["families"]:
        s = fam_b[(r["embodiment"], r["task"])]
        cells = [
            _cell(_med(r["families"][n]["errors"], "tcp_pos_mm"), _med(s["families"][n]["errors"], "tcp_pos_mm"), ".1f")
            for n in names
        ]
        out.append(f"| {r['embodiment']} | {r['task']} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--labels", nargs=2, default=("A", "B"))
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    a, b = _load(args.a), _load(args.b)
    if a["split"] != b["split"]:
        raise SystemExit(f"splits differ: {args.a} is {a['split']!r}, {args.b} is {b['split']!r}")
    args.out.write_text(
        f"# World-model v2 metrics: {args.labels[0]} against {args.labels[1]}\n\n" + tables(a, b, args.labels)
    )


if __name__ == "__main__":
    main()
