"""Table of the four variants' Push contact windows (select split): cube and gripper @16 median (p90), open-loop
success agreement. Writes summary.md beside the JSON files."""

import json
from pathlib import Path

here = Path(__file__).parent
variants = ["v21", "no-strike", "no-slide", "neither"]
data = {
    v: {r["embodiment"]: r for r in json.loads((here / f"select_contact_push_{v}.json").read_text())["contact"]}
    for v in variants
}
lines = [
    "| robot | " + " | ".join(f"{v}: cube @16 / gripper @16 / open-loop" for v in variants) + " |",
    "|---|" + "---|" * len(variants),
]
for robot in data["v21"]:
    cells = []
    for v in variants:
        r = data[v][robot]
        w = r["contact_windows"]["overall"]
        cube, grip = w["cube_pos_mm"]["16"], w["gripper_mm"]["16"]
        cells.append(
            f"{cube['median']:.1f} ({cube['p90']:.0f}) / {grip['median']:.1f} / "
            f"{r['open_loop_success']['success_agreement']:.2f}"
        )
    lines.append(f"| {robot} | " + " | ".join(cells) + " |")
(here / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
