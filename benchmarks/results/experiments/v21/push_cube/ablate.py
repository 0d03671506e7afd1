"""Which of v21's cube priors costs Push's contact-window cube error: the fidelity suite's contact section on the
select split with ``CubeMotion.strike`` or ``CubeMotion.slide`` switched off (identity), beside v21 as shipped.

    python ablate.py --variant {v21,no-strike,no-slide,neither} -- <benchmarks/fidelity.py arguments>
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from cosmos3_gym.model.cube_motion import CubeMotion

variant, rest = sys.argv[1 + sys.argv.index("--variant")], sys.argv[sys.argv.index("--") + 1 :]
if variant not in ("v21", "no-strike", "no-slide", "neither"):
    raise SystemExit(f"--variant: v21, no-strike, no-slide or neither, got {variant!r}")
if variant in ("no-strike", "neither"):
    CubeMotion.strike = lambda self, state, pred: pred
if variant in ("no-slide", "neither"):
    CubeMotion.slide = lambda self, before, state, pred, free: pred
fidelity = Path(__file__).resolve().parents[4] / "fidelity.py"
sys.path.insert(0, str(fidelity.parent))
sys.argv = [str(fidelity), *rest]
runpy.run_path(str(fidelity), run_name="__main__")
