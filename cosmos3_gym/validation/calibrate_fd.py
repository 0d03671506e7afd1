"""Calibrate a checkpoint's forward-dynamics TCP prior and residual gate per embodiment, with MuJoCo as judge.

Forward dynamics predicts each TCP as the commanded-pose prior plus a learned residual
(:mod:`cosmos3_gym.model.prior`). Teacher-forced, the residual is the controller's one-step tracking error;
rolled out on the model's own states it can also drift. Where the controller lags its command (Franka) the
residual is what keeps the open-loop TCP near MuJoCo's; where the controller tracks its command within a
fraction of a millimetre it mostly adds drift (on the select split: WidowX Push's open-loop TCP error at 16
steps 0.5 mm with the prior alone against 24 mm with the residual). So each embodiment gets a gate ``g`` (TCP =
prior + g · residual, every other channel as trained), chosen from :data:`GATES` on select-split seeds:
the lowest median open-loop TCP error at :data:`STEPS` steps of noisy-expert twin episodes of every task
replayed in the model from reset (the fidelity benchmark's in-distribution measure), among the gates whose
closed-loop scripted-expert success agrees with MuJoCo's on no fewer episodes than the largest gate's, less
:data:`AGREEMENT_TOL` (on Franka, whose controller lags, a smaller residual costs Push episodes closed loop).

The prior itself is chosen the same way (:data:`PRIORS`): the commanded pose; the kinematic prior, where
the twin's own IK step takes the arm from the state's joints (:meth:`~cosmos3_gym.model.prior.CommandPrior.reach`);
or the servo prior, where the arm moves from its joints and velocities toward those IK targets through its
position actuators' dynamics (:class:`~cosmos3_gym.embodiment.servo.JointServo`). The first two are the same
wherever no joint limit binds and the target is within reach; where the controller stops short (a wrist at its
limit, an arm stretched out), only the kinematic ones know it; where the servos lag or swing (saturated or
undamped actuators), only the servo prior does. Each costs more per arm, env and step than the one before (an
IK solve, about 3 µs here; then the servo's substeps), so each prior gets its best gate as above, agreement
measured against the model as trained (commanded, gate 1), and a costlier prior replaces the one chosen so far
only where its error is lower by more than :data:`PRIOR_TOL_MM`. The choice and the measured table go into the
checkpoint's stats (``kinematic_prior``, ``servo_prior``, ``tcp_residual_gate``) and meta; weights are not
touched.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cosmos3_gym.model.checkpoint import Checkpoint, CheckpointError, load_checkpoint, update_stats
from cosmos3_gym.sim.policies import policy_from_spec
from cosmos3_gym.tasks import TASKS, split_seeds
from cosmos3_gym.validation.agreement import closed_loop_agreement, open_loop_errors
from cosmos3_gym.validation.backends import LearnedBackend
from cosmos3_gym.validation.calibrate import add_calibration_options, gate_request
from cosmos3_gym.validation.suite import REPLAY_POLICY, twin_run

#: Candidate gates, from the commanded-pose prior alone (0) to the residual as trained (1).
GATES = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Open-loop horizon the gate is chosen at (control steps): the world-model issue's TCP target.
STEPS = 16
#: Where the calibration seeds start inside the select split: apart from the benchmark's select seeds.
SEED_OFFSET = 1000
#: How much closed-loop expert agreement a smaller gate may give up against the largest gate measured.
AGREEMENT_TOL = 0.02
#: Candidate TCP priors, cheapest first: the commanded pose, where the controller's IK step takes the arm, and
#: where the arm's servos take it toward that.
PRIORS = ("commanded", "kinematic", "servo")
#: How much lower (mm) a costlier prior's open-loop error must be for it to be worth its cost.
PRIOR_TOL_MM = 0.1


def gate_scores(
    ckpt: Checkpoint,
    embodiment: str,
    episodes: int,
    gates: Sequence[float],
    priors: Sequence[str] = PRIORS,
    bar: tqdm | None = None,
) -> dict[str, dict[float, dict[str, float]]]:
    """Per prior and gate: the median open-loop TCP error (mm, first arm) at :data:`STEPS` steps pooled over the tasks'
    noisy-expert episodes, and the closed-loop expert's success agreement with MuJoCo averaged over the tasks
    (``episodes`` per task, select seeds from :data:`SEED_OFFSET`, deterministic model)."""
    seeds = split_seeds("select", episodes, SEED_OFFSET)
    runs = []  # the twin's runs, which no gate changes: once per task (closing a twin only frees its renderer)
    for task in TASKS:
        twin, starts, noisy = twin_run(embodiment, task, seeds, REPLAY_POLICY, STEPS)
        twin.close()
        expert_twin, _, expert = twin_run(embodiment, task, seeds, "expert")
        expert_twin.close()
        runs.append((task, starts, noisy, expert_twin, expert))
    out: dict[str, dict[float, dict[str, float]]] = {p: {} for p in priors}
    for prior, g in ((p, g) for p in priors for g in gates):
        stats = replace(ckpt.stats[embodiment], tcp_residual_gate=g, **prior_flags(prior))
        gated = Checkpoint(ckpt.model, {**ckpt.stats, embodiment: stats})
        values, agree = [], []
        for task, starts, noisy, twin, expert in runs:
            pred = lambda n, t=task, c=gated: LearnedBackend(embodiment, t, n, c, uncertainty_samples=0)  # noqa: E731
            r = open_loop_errors(noisy, twin.layout, pred, starts, (STEPS,), values=("tcp_pos_mm",))
            values.extend(r["values"]["tcp_pos_mm"][str(STEPS)])
            policy = policy_from_spec("expert", twin.envs[0])
            row = closed_loop_agreement(twin, pred, starts, policy, twin.task.max_episode_steps, truth_run=expert)
            agree.append(row["success_agreement"])
        out[prior][float(g)] = {
            f"tcp_mm_at_{STEPS}": round(float(np.median(values)), 3),
            "expert_agreement": float(np.mean(agree)),
        }
        if bar is not None:
            bar.update()
    return out


def choose_gate(scores: dict[float, dict[str, float]], reference: float | None = None) -> float:
    """The gate of least open-loop TCP error among those whose expert agreement is within :data:`AGREEMENT_TOL`
    of ``reference`` (default: the largest gate's); ties keep more of the learned residual."""
    floor = (scores[max(scores)]["expert_agreement"] if reference is None else reference) - AGREEMENT_TOL
    eligible = [g for g, s in scores.items() if s["expert_agreement"] >= floor - 1e-9]
    if not eligible:
        raise ValueError("no gate keeps the closed-loop expert agreement")
    return min(eligible, key=lambda g: (scores[g][f"tcp_mm_at_{STEPS}"], -g))


def prior_flags(prior: str) -> dict[str, bool]:
    """The :class:`~cosmos3_gym.model.checkpoint.StateStats` fields of a prior in :data:`PRIORS`."""
    return {"kinematic_prior": prior != "commanded", "servo_prior": prior == "servo"}


def choose(scores: dict[str, dict[float, dict[str, float]]]) -> tuple[str, float]:
    """(prior, gate): each prior's best gate (:func:`choose_gate`, agreement measured against the commanded
    prior's largest gate, the model as trained, when it was measured), then, cheapest first (:data:`PRIORS`),
    a costlier prior replaces the one chosen so far where its error is lower by more than :data:`PRIOR_TOL_MM`."""
    ref = scores["commanded"][max(scores["commanded"])]["expert_agreement"] if "commanded" in scores else None
    best = {}
    for prior, table in scores.items():
        try:
            best[prior] = choose_gate(table, ref)
        except ValueError:
            continue  # every gate of this prior loses agreement (the reference itself never does)
    err = {p: scores[p][g][f"tcp_mm_at_{STEPS}"] for p, g in best.items()}
    chosen = None
    for prior in (p for p in PRIORS if p in best):
        if chosen is None or err[prior] < err[chosen] - PRIOR_TOL_MM:
            chosen = prior
    return chosen, best[chosen]  # the commanded prior, or without it each prior's largest gate, always qualifies


def calibrate_tcp_gates(
    model: str | Path,
    embodiments: Sequence[str] | None = None,
    episodes: int = 20,
    gates: Sequence[float] = GATES,
    progress: bool = False,
    priors: Sequence[str] = PRIORS,
) -> dict[str, dict]:
    """Choose and write the TCP prior (``kinematic_prior``, ``servo_prior``) and ``tcp_residual_gate`` for each
    embodiment of checkpoint folder ``model``.

    Returns ``{embodiment: {"scores": {prior: {gate: {"tcp_mm_at_16": mm, "expert_agreement": a}}}, "prior":
    chosen, "gate": chosen}}`` (also stored in the checkpoint's ``meta["tcp_gate_calibration"]``). Raises
    ``ValueError`` on a checkpoint without the commanded-pose prior, an embodiment it was not trained on, a
    gate outside [0, 1], an unknown prior or fewer than one episode.
    """
    ckpt = load_checkpoint(model)
    if not ckpt.model.cfg.residual_prior:
        raise ValueError(f"{model}: not a residual_prior checkpoint; its forward dynamics has no TCP residual to gate")
    names = gate_request(ckpt, embodiments, gates, episodes)
    if not priors or set(priors) - set(PRIORS):
        raise ValueError(f"priors must be some of {', '.join(PRIORS)}, got {', '.join(priors) or 'none'}")
    priors = [p for p in PRIORS if p in priors]
    total = len(names) * len(gates) * len(priors)
    stats, report = dict(ckpt.stats), {}
    with tqdm(total=total, desc="calibrate-fd", unit="gate", disable=not progress) as bar:
        for name in names:
            bar.set_postfix(embodiment=name)
            scores = gate_scores(ckpt, name, episodes, gates, priors, bar)
            prior, gate = choose(scores)
            report[name] = {"scores": scores, "prior": prior, "gate": gate}
            stats[name] = replace(stats[name], tcp_residual_gate=gate, **prior_flags(prior))
    seeds = split_seeds("select", episodes, SEED_OFFSET)
    setup = {"tasks": list(TASKS), "policy": REPLAY_POLICY, "seeds": [seeds[0], seeds[-1]], "steps": STEPS}
    earlier = ckpt.meta.get("tcp_gate_calibration", {})  # a partial rerun keeps the other embodiments' rows
    update_stats(ckpt, stats, {**ckpt.meta, "tcp_gate_calibration": {**earlier, **setup, **report}})
    return report


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``cosmos3-gym calibrate-fd``."""
    add_calibration_options(p, episodes=20)
    p.add_argument("--gates", type=float, nargs="+", default=list(GATES), help="candidate gates in [0, 1]")
    p.add_argument("--priors", nargs="+", choices=PRIORS, default=list(PRIORS), help="candidate TCP priors")


def run(args: argparse.Namespace) -> int:
    """``cosmos3-gym calibrate-fd``: measure every gate, store the best, print the table."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        report = calibrate_tcp_gates(
            args.model, args.embodiments, args.episodes, args.gates, progress=not args.json, priors=args.priors
        )
    except (ValueError, CheckpointError) as exc:
        raise SystemExit(f"calibrate-fd: {exc}") from None
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    key = f"tcp_mm_at_{STEPS}"
    gates = sorted({g for r in report.values() for t in r["scores"].values() for g in t})
    print("open-loop TCP mm at 16 steps / closed-loop expert agreement, per prior and gate")
    print(f"{'embodiment':<10} {'prior':<10} " + " ".join(f"g={g:<11}" for g in gates) + "  chosen")
    for name, r in report.items():
        for prior, table in r["scores"].items():
            cells = " ".join(f"{table[g][key]:>5.2f}/{table[g]['expert_agreement']:<7.2f}" for g in gates)
            chosen = f"{r['prior']} {r['gate']}" if prior == r["prior"] else ""
            print(f"{name:<10} {prior:<10} {cells}  {chosen}")
    return 0
