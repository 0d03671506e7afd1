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

Two priors of contact can be measured too, on request (neither is a default: see below). An arm pressed down
stops where its gripper meets the table (:func:`~cosmos3_gym.embodiment.hull.rest_on_table`) as deep as the twin's
grippers sink where they touch it (:func:`table_depth`): the ``+table`` priors (``priors``), chosen by the same rule.
And the fingers can move as their actuator drives them (:class:`~cosmos3_gym.embodiment.finger_servo.FingerServo`)
instead of as the generator predicts (``fingers``): the ``finger_servo`` is taken where it lowers the open-loop
gripper error by more than :data:`PRIOR_TOL_MM` without losing expert agreement; with ``cube_motion`` such fingers
also strike the cube and a struck cube slides (:class:`~cosmos3_gym.model.cube_motion.CubeMotion`). On the select
split the slide made Push's cube error worse (UMI 26.4 -> 30.6 mm) and the Franka Push agents did as well without
both (``benchmarks/results/experiments/v21/``), so they are off by default. On the select split the ``+table``
priors tied at 16 steps from reset everywhere, and the finger servo took the gripper error to 0.0 mm on every
robot, but a Franka Push agent trained inside a model with it pushed so that MuJoCo's cube pried the fingers open,
which the servo's contact-free fingers never show (``benchmarks/results/experiments/v19/``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cosmos3_gym.model.body_prior import BodyPrior
from cosmos3_gym.model.checkpoint import Checkpoint, CheckpointError, load_checkpoint, update_stats
from cosmos3_gym.sim.policies import policy_from_spec
from cosmos3_gym.tasks import TASKS, split_seeds
from cosmos3_gym.tokens import Embodiment, load_embodiment
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
#: Candidate TCP priors, cheapest first: the commanded pose, where the controller's IK step takes the arm, where
#: the arm's servos take it toward that, and either of the last two stopped by the table under the gripper.
PRIORS = ("commanded", "kinematic", "servo", "kinematic+table", "servo+table")
#: The priors measured unless asked otherwise.
DEFAULT_PRIORS = PRIORS[:3]
#: How much lower (mm) a costlier prior's open-loop error must be for it to be worth its cost.
PRIOR_TOL_MM = 0.1


class TwinRuns:
    """The twin's runs that every candidate is judged against (no candidate changes them): per task, the
    noisy-expert episodes over :data:`STEPS` steps and the scripted expert's whole episodes from the same
    ``episodes`` select seeds (from :data:`SEED_OFFSET`); and how deep the grippers sink into the table in them."""

    def __init__(self, embodiment: str, episodes: int, table: bool = True) -> None:
        seeds = split_seeds("select", episodes, SEED_OFFSET)
        self.embodiment, self.tasks = embodiment, []
        for task in TASKS:
            twin, starts, noisy = twin_run(embodiment, task, seeds, REPLAY_POLICY, STEPS)
            twin.close()  # closing a twin only frees its renderer
            expert_twin, _, expert = twin_run(embodiment, task, seeds, "expert")
            expert_twin.close()
            self.tasks.append((task, starts, noisy, expert_twin, expert))
        states = [r.states[i, : r.length[i] + 1] for t in self.tasks for r in t[2::2] for i in range(len(r.length))]
        #: The gripper's median depth below the table where it is below (m; 0 where it never is; not measured
        #: without ``table``).
        self.table_depth = table_depth(load_embodiment(embodiment), np.concatenate(states)) if table else 0.0

    def score(self, ckpt: Checkpoint, **flags: object) -> dict[str, float]:
        """Median open-loop TCP and gripper errors (mm, first arm) at :data:`STEPS` steps pooled over the tasks'
        noisy-expert episodes, and the closed-loop expert's success agreement with MuJoCo averaged over the tasks,
        of ``ckpt`` with this embodiment's stats fields ``flags`` replaced (deterministic model)."""
        name = self.embodiment
        model = Checkpoint(ckpt.model, {**ckpt.stats, name: replace(ckpt.stats[name], **flags)})
        tcp, grip, agree = [], [], []
        for task, starts, noisy, twin, expert in self.tasks:
            pred = lambda n, t=task, c=model: LearnedBackend(name, t, n, c, uncertainty_samples=0)  # noqa: E731
            r = open_loop_errors(noisy, twin.layout, pred, starts, (STEPS,), values=("tcp_pos_mm", "gripper_mm"))
            tcp.extend(r["values"]["tcp_pos_mm"][str(STEPS)])
            grip.extend(r["values"]["gripper_mm"][str(STEPS)])
            policy = policy_from_spec("expert", twin.envs[0])
            row = closed_loop_agreement(twin, pred, starts, policy, twin.task.max_episode_steps, truth_run=expert)
            agree.append(row["success_agreement"])
        return {
            f"tcp_mm_at_{STEPS}": round(float(np.median(tcp)), 3),
            f"gripper_mm_at_{STEPS}": round(float(np.median(grip)), 3),
            "expert_agreement": float(np.mean(agree)),
        }


def table_depth(emb: Embodiment, states: np.ndarray) -> float:
    """The median depth (m) below the table of the grippers' lowest points (:class:`GripperHull`) over the
    ``states (N, S)`` where they are below it, every arm pooled; 0 where none is."""
    prior, lay = BodyPrior(emb, kinematic=True, table_depth=0.0), emb.layout
    joints, table = lay.get(states, "joint_pos"), emb.spec.workspace.table_z
    arms = zip(prior.chains, prior.hulls, strict=True)
    below = np.concatenate([table - hull.lowest(chain.forward(joints), joints) for chain, hull in arms])
    below = below[below > 0]
    return float(np.median(below)) if below.size else 0.0


def contact_support(embodiment: str) -> str | None:
    """Why the embodiment's gripper cannot have the contact priors (the ``+table`` priors and the finger servo:
    two slide fingers coupled by a joint equality, driven through a tendon, joint velocities observed), or None."""
    try:
        BodyPrior(load_embodiment(embodiment), kinematic=True, table_depth=0.0, fingers=True)
    except ValueError as exc:
        return str(exc)
    return None


def gate_scores(
    ckpt: Checkpoint,
    runs: TwinRuns,
    gates: Sequence[float],
    priors: Sequence[str] = DEFAULT_PRIORS,
    bar: tqdm | None = None,
) -> dict[str, dict[float, dict[str, float]]]:
    """Per prior and gate: :meth:`TwinRuns.score`."""
    out: dict[str, dict[float, dict[str, float]]] = {p: {} for p in priors}
    for prior, g in ((p, g) for p in priors for g in gates):
        out[prior][float(g)] = runs.score(ckpt, tcp_residual_gate=g, **prior_flags(prior, runs.table_depth))
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


def prior_flags(prior: str, depth: float) -> dict[str, bool | float | None]:
    """The :class:`~cosmos3_gym.model.checkpoint.StateStats` fields of a prior in :data:`PRIORS`; ``depth``: how
    deep (m) a gripper sinks into the table (:func:`table_depth`), for the ``+table`` priors."""
    table = prior.endswith("+table")
    return {
        "kinematic_prior": prior != "commanded",
        "servo_prior": prior.startswith("servo"),
        "table_depth_m": depth if table else None,
    }


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


def choose_fingers(without: dict[str, float], with_: dict[str, float], reference: dict[str, float]) -> bool:
    """Whether the finger servo replaces the generator's gripper: its open-loop gripper error is lower by more
    than :data:`PRIOR_TOL_MM` and its expert agreement within :data:`AGREEMENT_TOL` of ``reference``'s."""
    key = f"gripper_mm_at_{STEPS}"
    agrees = with_["expert_agreement"] >= reference["expert_agreement"] - AGREEMENT_TOL - 1e-9
    return bool(agrees and with_[key] < without[key] - PRIOR_TOL_MM)


def calibrate_tcp_gates(
    model: str | Path,
    embodiments: Sequence[str] | None = None,
    episodes: int = 20,
    gates: Sequence[float] = GATES,
    progress: bool = False,
    priors: Sequence[str] = DEFAULT_PRIORS,
    fingers: bool = False,
    cube_motion: bool = False,
) -> dict[str, dict]:
    """Choose and write the TCP prior (``kinematic_prior``, ``servo_prior``, ``table_depth_m``), the
    ``tcp_residual_gate`` and (with ``fingers``) the ``finger_servo`` and ``cube_motion`` for each embodiment of
    checkpoint folder ``model``.

    Returns ``{embodiment: {"scores": {prior: {gate: {"tcp_mm_at_16": mm, "gripper_mm_at_16": mm,
    "expert_agreement": a}}}, "prior": chosen, "gate": chosen, "table_depth_mm": mm, "finger_servo_score": the
    chosen prior and gate's scores with the finger servo, "finger_servo": chosen, "no_contact_priors": why the
    gripper has none (:func:`contact_support`) or None}}`` (also stored in the checkpoint's
    ``meta["tcp_gate_calibration"]``). Raises
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
    total = len(names) * (len(gates) * len(priors) + fingers)
    table = any(p.endswith("+table") for p in priors)
    stats, report = dict(ckpt.stats), {}
    with tqdm(total=total, desc="calibrate-fd", unit="gate", disable=not progress) as bar:
        for name in names:
            bar.set_postfix(embodiment=name)
            unsupported = contact_support(name) if fingers or table else None
            runs = TwinRuns(name, episodes, table=table and unsupported is None)
            candidates = [p for p in priors if unsupported is None or not p.endswith("+table")]
            scores = gate_scores(ckpt, runs, gates, candidates, bar)
            prior, gate = choose(scores)
            flags = {"tcp_residual_gate": gate, **prior_flags(prior, runs.table_depth)}
            finger_score, servo = None, False
            if fingers and unsupported is None:
                finger_score = runs.score(ckpt, **flags, finger_servo=True, cube_motion=cube_motion)
                ref = scores["commanded"][max(scores["commanded"])] if "commanded" in scores else scores[prior][gate]
                servo = choose_fingers(scores[prior][gate], finger_score, ref)
                bar.update()
            report[name] = {
                "scores": scores,
                "prior": prior,
                "gate": gate,
                "table_depth_mm": round(runs.table_depth * 1000, 2),
                "finger_servo_score": finger_score,
                "finger_servo": servo,
                "no_contact_priors": unsupported,
            }
            stats[name] = replace(stats[name], **flags, finger_servo=servo, cube_motion=cube_motion)
    seeds = split_seeds("select", episodes, SEED_OFFSET)
    setup = {"tasks": list(TASKS), "policy": REPLAY_POLICY, "seeds": [seeds[0], seeds[-1]], "steps": STEPS}
    earlier = ckpt.meta.get("tcp_gate_calibration", {})  # a partial rerun keeps the other embodiments' rows
    update_stats(ckpt, stats, {**ckpt.meta, "tcp_gate_calibration": {**earlier, **setup, **report}})
    return report


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``cosmos3-gym calibrate-fd``."""
    add_calibration_options(p, episodes=20)
    p.add_argument("--gates", type=float, nargs="+", default=list(GATES), help="candidate gates in [0, 1]")
    p.add_argument("--priors", nargs="+", choices=PRIORS, default=list(DEFAULT_PRIORS), help="candidate TCP priors")
    p.add_argument("--fingers", action="store_true", help="measure the finger servo too; take it where it is better")
    p.add_argument(
        "--cube-motion", action="store_true", help="with --fingers: opening fingers strike the cube, which then slides"
    )


def run(args: argparse.Namespace) -> int:
    """``cosmos3-gym calibrate-fd``: measure every gate, store the best, print the table."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        report = calibrate_tcp_gates(
            args.model,
            args.embodiments,
            args.episodes,
            args.gates,
            progress=not args.json,
            priors=args.priors,
            fingers=args.fingers,
            cube_motion=args.cube_motion,
        )
    except (ValueError, CheckpointError) as exc:
        raise SystemExit(f"calibrate-fd: {exc}") from None
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    key = f"tcp_mm_at_{STEPS}"
    gates = sorted({g for r in report.values() for t in r["scores"].values() for g in t})
    print("open-loop TCP mm at 16 steps / closed-loop expert agreement, per prior and gate")
    print(f"{'embodiment':<10} {'prior':<15} " + " ".join(f"g={g:<11}" for g in gates) + "  chosen")
    for name, r in report.items():
        for prior, table in r["scores"].items():
            cells = " ".join(f"{table[g][key]:>5.2f}/{table[g]['expert_agreement']:<7.2f}" for g in gates)
            chosen = f"{r['prior']} {r['gate']}" if prior == r["prior"] else ""
            print(f"{name:<10} {prior:<15} {cells}  {chosen}")
        if r["no_contact_priors"] is not None:
            print(f"{name:<10} no contact priors: {r['no_contact_priors']}")
        if r["finger_servo_score"] is None:
            continue
        grip = f"gripper_mm_at_{STEPS}"
        without, with_ = r["scores"][r["prior"]][r["gate"]], r["finger_servo_score"]
        print(
            f"{name:<10} fingers: gripper mm {without[grip]:.2f} -> {with_[grip]:.2f} with the servo, agreement "
            f"{with_['expert_agreement']:.2f}; table depth {r['table_depth_mm']} mm; finger servo {r['finger_servo']}"
        )
    return 0
