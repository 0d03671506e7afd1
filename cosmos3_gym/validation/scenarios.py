"""Held-out scenarios beyond the training mixture (how fidelity degrades out of distribution).

Each scenario changes one thing relative to the nominal run: where the cube starts (outside the
reset box), the cube's physics (mass, friction; the MuJoCo side only, so the model sees a cube it was
never trained on), or the action sequence (sinusoidal sweeps, abrupt reversals).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

from cosmos3_gym.embodiment.kinematics import CUBE_JOINT
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tasks import sample_goal
from cosmos3_gym.validation.rollouts import StartPerturb

#: Mass factor of the heavy cube and friction factor of the slippery cube.
HEAVY_MASS_FACTOR = 4.0
SLIPPERY_FRICTION_FACTOR = 0.25
#: How far beyond the reset box the displaced cube starts: this fraction of the box size, at least 3 cm.
OUTSIDE_FRACTION = 0.3
OUTSIDE_MIN_M = 0.03


@dataclass(frozen=True)
class Scenario:
    """One held-out condition. ``policy`` overrides the validated policy (None keeps it)."""

    name: str
    description: str
    perturb_start: StartPerturb | None = None
    edit_model: Callable[[mujoco.MjModel], None] | None = None
    policy: str | None = None


def _cube_geoms(model: mujoco.MjModel) -> np.ndarray:
    body = model.jnt_bodyid[model.joint(CUBE_JOINT).id]
    start, count = model.body_geomadr[body], model.body_geomnum[body]
    return np.arange(start, start + count)


def _heavier(model: mujoco.MjModel) -> None:
    body = model.jnt_bodyid[model.joint(CUBE_JOINT).id]
    model.body_mass[body] *= HEAVY_MASS_FACTOR
    model.body_inertia[body] *= HEAVY_MASS_FACTOR  # same shape, denser material


def _slipperier(model: mujoco.MjModel) -> None:
    model.geom_friction[_cube_geoms(model), 0] *= SLIPPERY_FRICTION_FACTOR  # sliding friction
    # MuJoCo uses the max of the two geoms' friction per contact unless priorities say otherwise:
    # give the cube priority so its low friction wins against fingers and table.
    model.geom_priority[_cube_geoms(model)] = 10


def outside_box_xy(low: np.ndarray, high: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cube xy beyond one (random) edge of the reset box ``[low, high]``, uniformly along that edge."""
    size = high - low
    margin = np.maximum(OUTSIDE_FRACTION * size, OUTSIDE_MIN_M)
    axis, side = int(rng.integers(2)), int(rng.integers(2))
    xy = rng.uniform(low, high)
    xy[axis] = high[axis] + margin[axis] if side else low[axis] - margin[axis]
    return xy


def _move_cube_outside(env: MujocoTwinEnv, rng: np.random.Generator) -> None:
    ws = env.emb.spec.workspace
    adr = env.reader.cube_qadr
    xy = outside_box_xy(np.asarray(ws.cube_low, float), np.asarray(ws.cube_high, float), rng)
    env.data.qpos[adr : adr + 2] = xy
    mujoco.mj_forward(env.model, env.data)
    if env.task.name == "lift":  # the Lift goal sits above the cube's start
        env.goal = sample_goal(rng, env.task, ws, env.data.qpos[adr : adr + 3].copy())


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("nominal", "training reset distribution, the validated policy"),
        Scenario(
            "cube-outside-box",
            f"cube starts {OUTSIDE_FRACTION:.0%} of the reset box "
            f"(>= {OUTSIDE_MIN_M * 100:.0f} cm) beyond one of its edges",
            perturb_start=_move_cube_outside,
        ),
        Scenario("heavy-cube", f"cube mass x{HEAVY_MASS_FACTOR:g} (MuJoCo side only)", edit_model=_heavier),
        Scenario(
            "slippery-cube",
            f"cube sliding friction x{SLIPPERY_FRICTION_FACTOR:g} (MuJoCo side only)",
            edit_model=_slipperier,
        ),
        Scenario("sine-sweep", "chirped sinusoidal actions, 0.2 -> 2 Hz on every dimension", policy="sine-sweep"),
        Scenario("abrupt-reversal", "constant actions whose sign flips every 3-10 steps", policy="abrupt-reversal"),
    )
}


def get_scenarios(names: list[str] | tuple[str, ...]) -> list[Scenario]:
    """Look scenarios up by name; raises ``ValueError`` naming the unknown ones and the allowed names."""
    bad = [n for n in names if n not in SCENARIOS]
    if bad:
        raise ValueError(f"unknown scenario(s) {bad}; allowed: {', '.join(SCENARIOS)}")
    return [SCENARIOS[n] for n in names]
