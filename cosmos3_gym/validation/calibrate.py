"""Calibrate an ``id_prior`` checkpoint's inverse-dynamics residual gate per embodiment, with MuJoCo as judge.

An ``id_prior`` model infers actions as the analytic contract inverse plus a generated residual
(:meth:`WorldModel.sample`). Whether the residual helps depends on the robot: where the controller lags
its command (Franka) the inverse alone misses the commanded action and the residual closes most of the
gap; where the controller tracks well the residual mostly adds noise to an already good answer. So each
embodiment gets a gate ``g`` (actions = inverse + g · residual) chosen from :data:`GATES` by the median
end-of-chunk TCP error of the inverse-dynamics replay (:func:`inverse_dynamics_check`) on
training-range seeds (never the benchmarks' held-out seeds, 10 000+), and written into the checkpoint's
stats (``id_residual_gate``) with the measured table in its meta. Weights are not touched.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cosmos3_gym.embodiment import list_embodiments
from cosmos3_gym.envs.registry import EMBODIMENT_HELP, embodiment_arg
from cosmos3_gym.model.checkpoint import Checkpoint, StateStats, load_checkpoint, update_stats
from cosmos3_gym.model.inference import ModeRunner
from cosmos3_gym.sim.policies import make_policy
from cosmos3_gym.validation.backends import MujocoBackend
from cosmos3_gym.validation.idcheck import inverse_dynamics_check
from cosmos3_gym.validation.rollouts import make_starts, rollout

#: Candidate gates, from the contract inverse alone (0) to the residual as trained (1).
GATES = (0.0, 0.25, 0.5, 0.75, 1.0)
#: First calibration seed: inside the training range (< 10 000), after the default recipe's datasets.
SEED = 9000


def replay_errors(
    runner: ModeRunner,
    embodiment: str,
    task: str,
    episodes: int,
    seed: int,
    gates: Sequence[float],
    bar: tqdm | None = None,
) -> dict[float, float]:
    """Median inverse-dynamics replay TCP error (mm) for each gate, on noisy-expert twin episodes, with the
    deterministic sampler (ε = 0) that :meth:`ModeRunner.inverse_dynamics` uses by default. ``bar`` advances
    by one after the rollouts and after each gate."""
    backend = MujocoBackend(embodiment, task, episodes)
    env = backend.envs[0]
    starts = make_starts(env, range(seed, seed + episodes))
    truth = rollout(backend, starts, env.task.max_episode_steps, policy=lambda s: make_policy("noisy-expert", env, s))
    if bar is not None:
        bar.update()
    out = {}
    for g in gates:
        runner.space.id_gate = float(g)
        check = inverse_dynamics_check(env, truth, lambda st, go: runner.inverse_dynamics(st, go, task))
        out[float(g)] = round(check["tcp_error_mm"]["median"], 3)
        if bar is not None:
            bar.update()
    return out


def add_calibration_options(p: argparse.ArgumentParser, episodes: int) -> None:
    """The options every in-place checkpoint calibration command shares (``calibrate-fd``, ``-uncertainty``)."""
    p.add_argument("--model", required=True, help="checkpoint folder to calibrate in place (its config.json)")
    p.add_argument(
        "--embodiments",
        nargs="+",
        type=embodiment_arg,
        default=None,
        help=f"{EMBODIMENT_HELP} (default: every embodiment the checkpoint has)",
    )
    p.add_argument("--episodes", type=int, default=episodes, help="noisy-expert episodes per embodiment and task")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--json", action="store_true")


def gate_request(
    ckpt: Checkpoint, embodiments: Sequence[str] | None, gates: Sequence[float], episodes: int
) -> list[str]:
    """The embodiments a gate calibration of ``ckpt`` covers (default: all it has, in catalogue order), after
    checking the request: one-line ``ValueError`` on an embodiment it lacks, a gate outside [0, 1] or no episode."""
    names = list(embodiments) if embodiments else [n for n in list_embodiments() if n in ckpt.stats]
    unknown = sorted(set(names) - set(ckpt.stats))
    if unknown:
        raise ValueError(f"checkpoint not trained on {unknown}; it covers {sorted(ckpt.stats)}")
    if not gates or any(not 0.0 <= g <= 1.0 for g in gates):
        raise ValueError(f"gates must be a non-empty list of values in [0, 1], got {list(gates)}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    return names


def calibrate_id_gates(
    model: str | Path,
    embodiments: Sequence[str] | None = None,
    episodes: int = 10,
    seed: int = SEED,
    task: str = "lift",
    gates: Sequence[float] = GATES,
    progress: bool = False,
) -> dict[str, dict]:
    """Choose and write ``id_residual_gate`` for each embodiment of checkpoint folder ``model``.

    Returns ``{embodiment: {"replay_tcp_mm": {gate: mm}, "gate": chosen}}`` (also stored in the
    checkpoint's ``meta["id_gate_calibration"]``). ``progress``: a tqdm bar on stderr. Raises ``ValueError``
    on a checkpoint without ``id_prior``, an embodiment it was not trained on, or a gate outside [0, 1].
    """
    ckpt = load_checkpoint(model)
    if not ckpt.model.cfg.id_prior:
        raise ValueError(f"{model}: not an id_prior checkpoint; its inverse dynamics has no residual to gate")
    names = gate_request(ckpt, embodiments, gates, episodes)
    report: dict[str, dict] = {}
    stats: dict[str, StateStats] = dict(ckpt.stats)
    bar = tqdm(total=len(names) * (1 + len(gates)), desc="calibrate-id", unit="stage", disable=not progress)
    for name in names:
        bar.set_postfix(embodiment=name)
        errors = replay_errors(ModeRunner(ckpt, name), name, task, episodes, seed, gates, bar)
        best = min(errors, key=lambda g: (errors[g], -g))  # ties keep more of the learned residual
        report[name] = {"replay_tcp_mm": errors, "gate": best}
        stats[name] = replace(stats[name], id_residual_gate=best)
    earlier = ckpt.meta.get("id_gate_calibration", {})  # a partial rerun keeps the other embodiments' rows
    setup = {"task": task, "policy": "noisy-expert", "seeds": [seed, seed + episodes - 1]}
    meta = {**ckpt.meta, "id_gate_calibration": {**earlier, **setup, **report}}
    bar.close()
    update_stats(ckpt, stats, meta)
    return report


def format_report(report: dict[str, dict]) -> str:
    """A plain-text table: one row per embodiment, replay error per gate, the chosen gate."""
    gates = sorted({g for r in report.values() for g in r["replay_tcp_mm"]})
    lines = [f"{'embodiment':<10} " + " ".join(f"g={g:<6}" for g in gates) + "  chosen"]
    for name, r in report.items():
        cells = " ".join(f"{r['replay_tcp_mm'].get(g, np.nan):<8.2f}" for g in gates)
        lines.append(f"{name:<10} {cells}  {r['gate']}")
    return "\n".join(lines)
