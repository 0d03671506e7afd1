"""``cosmos3-gym rl`` inside v21 without the cube's strike and slide ("neither": v19's exact fingers plus the yield in
contact): both priors replaced by the identity, every other argument passed on.

    python rl.py --env Cosmos3-Franka-Push-v0 --model V21_DIR ...
"""

from __future__ import annotations

import sys

from cosmos3_gym.cli import main
from cosmos3_gym.model.cube_motion import CubeMotion

CubeMotion.strike = lambda self, state, pred: pred
CubeMotion.slide = lambda self, before, state, pred, free: pred

if __name__ == "__main__":
    sys.exit(main(["rl", *sys.argv[1:]]))
