"""Table floor: how low do MuJoCo's TCPs and cubes go when an arm presses down on the table or the cube?

The learned simulator's ``floor`` prior (:meth:`cosmos3_gym.model.prior.CommandPrior.floor`) keeps every TCP
at least ``TCP_FLOOR_M`` above the table and a cube's centre at most ``CUBE_SINK`` half-sizes below its
resting height. This measures what the twins allow, on every shipped embodiment's Lift twin, in two kinds of episode:

- ``random-down``: uniform random actions (every rotation axis, the gripper) with the vertical command drawn
  from [-1, 0.2], so the arm spends most of the episode pressing on the table at random tilts;
- ``press-cube``: the first arm moves above the cube, then drives down onto it with the gripper closed.

Reported per embodiment: the lowest TCP height above the table (mm) and the deepest a cube's centre sank
below its resting height (mm: the centre's height below a flat cube's resting on the table; > 0 = into
the table, which MuJoCo's soft contacts allow under a hard press).

    python benchmarks/table_floor.py --episodes 6
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
from hardware import hardware_label

import cosmos3_gym  # noqa: F401  (registers the ids)
from cosmos3_gym.embodiment import list_embodiments
from cosmos3_gym.embodiment.layout import ObsLayout
from cosmos3_gym.model.prior import CUBE_SINK, TCP_FLOOR_M
from cosmos3_gym.registration import robot_name

RESULTS = Path(__file__).resolve().parent / "results"
SEED0 = 60_000  # twin physics only: no model is trained, chosen or reported on these seeds


def _press_cube(obs: dict, lay: ObsLayout, steps: int, t: int, dim: int) -> np.ndarray:
    """Native action ``(dim,)``: the first arm above the cube for the first half of the episode (P-control on
    cube − TCP), then straight down on it, fingers closed (AgiBot's second arm holds still)."""
    a = np.zeros(dim)
    rel = lay.get(obs["observation"], "cube_rel_pos")
    a[0:2] = np.clip(rel[:2] * 20.0, -1, 1)
    a[2] = 0.0 if t < steps // 2 else -1.0
    a[6::7] = -1.0  # closed
    return a


def probe(name: str, episodes: int, steps: int = 100) -> dict:
    """Per episode kind: the lowest TCP height above the table and the deepest cube-centre sink below a flat
    cube's resting height (mm, and in half-sizes)."""
    env = gym.make(f"Cosmos3-{robot_name(name)}-Lift-MuJoCo-v0").unwrapped
    ws, lay, dim = env.emb.spec.workspace, env.emb.layout, env.action_space.shape[0]
    rng = np.random.default_rng(SEED0)
    out = {}
    for kind in ("random-down", "press-cube"):
        tcp_low, sink = [], []
        for ep in range(episodes):
            obs, _ = env.reset(seed=SEED0 + ep)
            low, deep = np.inf, -np.inf
            for t in range(steps):
                if kind == "random-down":
                    a = rng.uniform(-1, 1, dim)
                    a[2::7] = rng.uniform(-1, 0.2, a[2::7].shape)
                else:
                    a = _press_cube(obs, lay, steps, t, dim)
                obs, _, terminated, _, _ = env.step(a)
                if terminated:  # the cube left the table (and falls past its edge): the episode is over
                    break
                s = obs["observation"]
                low = min(low, min(lay.arm(s, "tcp_pos", k)[2] for k in range(lay.num_arms)) - ws.table_z)
                deep = max(deep, ws.table_z + ws.cube_half_size - lay.get(s, "cube_pos")[2])
            tcp_low.append(low)
            sink.append(deep)
        out[kind] = {
            "tcp_min_above_table_mm": round(1000 * float(min(tcp_low)), 2),
            "cube_max_sink_mm": round(1000 * float(max(sink)), 2),
            "cube_max_sink_half_sizes": round(float(max(sink)) / ws.cube_half_size, 3),
        }
    env.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=6, help="episodes per embodiment and kind")
    p.add_argument("--out", default=str(RESULTS / "table_floor.json"))
    args = p.parse_args()
    rows = {name: probe(name, args.episodes) for name in list_embodiments()}
    for name, r in rows.items():
        print(name, r)
    result = {
        "what": __doc__.split("\n\n")[0],
        "episodes": args.episodes,
        "seeds_from": SEED0,
        "prior": {"TCP_FLOOR_M": TCP_FLOOR_M, "CUBE_SINK_half_sizes": CUBE_SINK},
        "tcp_min_above_table_mm": min(min(k["tcp_min_above_table_mm"] for k in r.values()) for r in rows.values()),
        "cube_max_sink_half_sizes": max(max(k["cube_max_sink_half_sizes"] for k in r.values()) for r in rows.values()),
        "rows": rows,
        "hardware": hardware_label(),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    tcp, sink = result["tcp_min_above_table_mm"], result["cube_max_sink_half_sizes"]
    print(f"wrote {args.out}: TCP >= {tcp} mm above the table, cube sink <= {sink} half-sizes")


if __name__ == "__main__":
    main()
