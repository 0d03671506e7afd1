"""``cosmos3_gym.validate(...)``: the world model against MuJoCo on one learned id, end to end.

Every argument is checked (env id, checkpoint, policy and its spaces, horizon against the episode
length, scenario names) before the first rollout, so a mistake costs seconds, not a long run.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cosmos3_gym.sim.policies import PolicyFactory, policy_from_spec
from cosmos3_gym.tasks import check_split
from cosmos3_gym.validation import metrics
from cosmos3_gym.validation.backends import BackendFactory, LearnedBackend, MujocoBackend
from cosmos3_gym.validation.idcheck import InverseDynamics, inverse_dynamics_check, model_inverse_dynamics
from cosmos3_gym.validation.policies import RANKING_POLICIES, policy_label
from cosmos3_gym.validation.rollouts import PairedRun, make_starts, paired_run
from cosmos3_gym.validation.scenarios import SCENARIOS, Scenario, get_scenarios

#: Step at which the held-out scenario table compares errors.
SCENARIO_HORIZON = 16
#: First episode seed: held out (the training datasets use seeds < 10 000).
DEFAULT_SEED = 100_000


class ValidationArgumentError(ValueError):
    """An argument of :func:`validate` is invalid (raised before any rollout)."""


@dataclass
class Plan:
    """Checked arguments, resolved into what the run needs."""

    env_id: str
    embodiment: str
    task: str
    horizon: int
    max_episode_steps: int
    model_label: str
    factory: BackendFactory
    infer: InverseDynamics | None
    policy: str
    policy_factory: PolicyFactory
    ranking: list[tuple[str, PolicyFactory]]
    scenarios: list[tuple[Scenario, PolicyFactory]]


def _resolve_env(env_id: str) -> tuple[str, str, int]:
    from cosmos3_gym.envs.ids import resolve_env

    try:
        target = resolve_env(env_id, learned_only=True)
    except ValueError as exc:
        raise ValidationArgumentError(str(exc)) from None
    return target.embodiment, target.task, target.max_episode_steps


def _resolve_model(
    model: str | Path | BackendFactory, embodiment: str, task: str, device: str, uncertainty_samples: int
) -> tuple[str, BackendFactory, InverseDynamics | None]:
    if callable(model):
        return getattr(model, "__name__", type(model).__name__), model, None
    from cosmos3_gym.model import get_checkpoint

    try:
        ckpt = get_checkpoint(str(model), device)
    except (OSError, ValueError) as exc:  # CheckpointError is a ValueError
        raise ValidationArgumentError(f"model {str(model)!r}: {exc}") from exc
    if embodiment not in ckpt.stats:
        from cosmos3_gym.model.space import not_trained_message
        from cosmos3_gym.tokens import load_embodiment

        raise ValidationArgumentError(not_trained_message(ckpt, load_embodiment(embodiment)))

    def factory(n: int) -> LearnedBackend:
        return LearnedBackend(embodiment, task, n, ckpt, device, uncertainty_samples=uncertainty_samples)

    return str(model), factory, model_inverse_dynamics(ckpt, embodiment, task, device)


def plan(
    env: str,
    model: str | Path | BackendFactory,
    policy: str,
    episodes: int,
    horizon: int | None,
    ranking_policies: Sequence[str],
    scenarios: Sequence[str],
    device: str = "cpu",
    uncertainty_samples: int = 2,
    ranking_episodes: int | None = None,
    scenario_episodes: int | None = None,
) -> Plan:
    """Check every argument and resolve it; raises :class:`ValidationArgumentError` naming what is wrong."""
    from cosmos3_gym.sim.twin_env import MujocoTwinEnv

    embodiment, task, max_steps = _resolve_env(env)
    for name, value in (
        ("episodes", episodes),
        ("ranking_episodes", ranking_episodes),
        ("scenario_episodes", scenario_episodes),
    ):
        if value is not None and (not isinstance(value, int | np.integer) or value < 1):
            raise ValidationArgumentError(f"{name} must be an integer >= 1, got {value!r}")
    horizon = min(64, max_steps) if horizon is None else horizon
    if not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValidationArgumentError(f"horizon must be an integer >= 1, got {horizon!r}")
    if horizon > max_steps:
        raise ValidationArgumentError(
            f"horizon {horizon} is longer than an episode of {env} "
            f"(max_episode_steps={max_steps}); use --horizon <= {max_steps}"
        )
    if uncertainty_samples < 0:
        raise ValidationArgumentError(f"uncertainty_samples must be >= 0, got {uncertainty_samples}")
    twin = MujocoTwinEnv(embodiment, task)
    # ``policy-head`` and ``planner`` use the validated model unless the spec names a checkpoint.
    defaults = {"device": device} if callable(model) else {"checkpoint": str(model), "device": device}

    def resolve(spec: str, what: str) -> PolicyFactory:
        try:
            return policy_from_spec(str(spec), twin, **defaults)
        except (ValueError, ImportError) as exc:
            raise ValidationArgumentError(f"{what}{exc}") from exc

    main = resolve(policy, "")
    ranking = [(policy_label(s), resolve(s, "ranking: ")) for s in ranking_policies]
    try:
        chosen = get_scenarios(tuple(scenarios))
    except ValueError as exc:
        raise ValidationArgumentError(str(exc)) from exc
    scen = [(s, resolve(s.policy, f"scenario {s.name}: ") if s.policy else main) for s in chosen]
    label, factory, infer = _resolve_model(model, embodiment, task, device, uncertainty_samples)
    return Plan(
        env,
        embodiment,
        task,
        int(horizon),
        max_steps,
        label,
        factory,
        infer,
        policy_label(str(policy)),
        main,
        ranking,
        scen,
    )


def _errors(run: PairedRun, layout: Any, closed: bool) -> tuple[dict, np.ndarray]:
    pred = run.closed_loop if closed else run.open_loop
    length = np.minimum(run.truth.length, pred.length) if closed else run.truth.length
    return metrics.step_errors(layout, pred.states, run.truth.states), length


def validate(
    env: str,
    model: str | Path | BackendFactory = "default",
    policy: str = "random-smooth",
    episodes: int = 50,
    horizon: int | None = None,
    out: str | Path | None = None,
    *,
    seed: int = DEFAULT_SEED,
    device: str = "cpu",
    ranking_policies: Sequence[str] = RANKING_POLICIES,
    ranking_episodes: int | None = None,
    scenarios: Sequence[str] = tuple(SCENARIOS),
    scenario_episodes: int | None = None,
    inverse_dynamics: bool = True,
    uncertainty_samples: int = 2,
    video_episodes: int = 2,
    plots: bool = True,
    progress: bool = False,
    split: str = "select",
    contact_episodes: int = 0,
    family_episodes: int = 0,
    workers: int = 1,
    address: str | None = None,
) -> dict[str, Any]:
    """Compare the world model with MuJoCo on learned id ``env``; returns the report (JSON-able dict).

    ``model``: checkpoint folder, ``"default"``, or a factory ``n -> Backend`` (e.g. an oracle).
    ``policy``: a spec of the policy registry (:mod:`cosmos3_gym.sim.policies`): ``KIND[:VALUE]`` or
    ``PATH.zip``; ``policy-head`` and ``planner`` act with ``model`` unless the spec names a checkpoint.
    ``horizon`` (steps, default ``min(64, max_episode_steps)``). Runs ``episodes`` paired episodes
    (seeds ``seed..seed+episodes-1``): open loop, closed loop, then the policy ranking (``ranking_policies``
    × ``ranking_episodes``), the held-out ``scenarios`` (× ``scenario_episodes``), the inverse-dynamics
    check and the uncertainty calibration. With ``out``, writes report.json, CSV tables, PNG plots, an MP4
    and report.md there.
    ``contact_episodes`` / ``family_episodes`` (0 = skip; the CLI runs 10 / 5): the contact and
    held-out-action suite (:mod:`cosmos3_gym.validation.suite`) on the seed ``split`` (``select`` |
    ``report``), not on ``seed``.
    ``workers`` > 1 or ``address``: the suite's parts run as Ray tasks (a checkpoint ``model`` on the CPU only).
    """
    t0 = time.time()
    _check_suite_args(split, contact_episodes, family_episodes)
    p = plan(
        env,
        model,
        policy,
        episodes,
        horizon,
        ranking_policies,
        scenarios,
        device,
        uncertainty_samples,
        ranking_episodes,
        scenario_episodes,
    )
    seeds = [seed + i for i in range(episodes)]
    truth = MujocoBackend(p.embodiment, p.task, episodes)
    pred = p.factory(episodes)
    layout = truth.layout
    starts = make_starts(truth.envs[0], seeds)
    run = paired_run(truth, pred, starts, p.policy_factory, p.horizon, video=video_episodes, progress=progress)
    report: dict[str, Any] = {
        "env_id": env,
        "embodiment": p.embodiment,
        "task": p.task,
        "model": p.model_label,
        "policy": p.policy,
        "episodes": episodes,
        "horizon": p.horizon,
        "seed": seed,
        "max_episode_steps": p.max_episode_steps,
    }
    curves = {}
    for mode, closed in (("open_loop", False), ("closed_loop", True)):
        err, length = _errors(run, layout, closed)
        report[mode] = {
            "errors": metrics.horizon_table(err, length),
            "outcome": metrics.outcome_stats(run.truth, run.closed_loop if closed else run.open_loop),
        }
        curves[mode] = metrics.error_curves(err, length)
    report["calibration"] = _calibration(run, layout)
    report["inverse_dynamics"] = (
        inverse_dynamics_check(truth.envs[0], run.truth, p.infer)
        if inverse_dynamics and p.infer is not None
        else {
            "skipped": "disabled"
            if not inverse_dynamics
            else "the model has no inverse-dynamics mode (not a checkpoint)"
        }
    )
    pred.close()
    report["ranking"] = _ranking(p, [seed + i for i in range(ranking_episodes or episodes)], progress)
    report["scenarios"] = _scenarios(p, [seed + i for i in range(scenario_episodes or episodes)], run, layout, progress)
    truth.close()
    if contact_episodes or family_episodes:
        from cosmos3_gym.validation.suite import RowJob, validate_suite

        template = None
        if isinstance(model, str | Path) and device == "cpu":
            template = RowJob("expert", p.embodiment, p.task, str(model), (), uncertainty_samples)
        report["suite"] = validate_suite(
            p.embodiment, p.task, p.factory, split, contact_episodes, family_episodes, template, workers, address
        )
    report["warnings"] = metrics.horizon_warnings(report)
    for text in report["warnings"]:
        warnings.warn(text, metrics.HorizonWarning, stacklevel=2)
    report["wall_s"] = round(time.time() - t0, 2)
    if out is not None:
        from cosmos3_gym.validation.report import write_outputs

        # wall_s is set again inside, just before report.json is written: the plots and the video take
        # as long as the rollouts, and a timing without them understated the run (9 s for 21 s).
        report["files"] = write_outputs(
            Path(out), report, run, curves, layout, p.embodiment, p.task, video_episodes, plots, started=t0
        )
    return report


def _check_suite_args(split: str, contact_episodes: int, family_episodes: int) -> None:
    try:
        check_split(split)
    except ValueError as exc:
        raise ValidationArgumentError(str(exc)) from None
    for name, value in (("contact_episodes", contact_episodes), ("family_episodes", family_episodes)):
        if not isinstance(value, int | np.integer) or value < 0:
            raise ValidationArgumentError(f"{name} must be an integer >= 0, got {value!r}")


def _calibration(run: PairedRun, layout: Any) -> dict:
    if run.open_loop.uncertainty is None:
        return {"skipped": "the predicted backend reports no uncertainty (needs uncertainty_samples > 0)"}
    err = metrics.position_error_m(layout, run.open_loop.states[:, 1:], run.truth.states[:, 1:])
    return metrics.calibration(run.open_loop.uncertainty, err, run.truth.length)


def _ranking(p: Plan, seeds: list[int], progress: bool) -> dict:
    """Closed-loop success and return of each ranking policy in both backends, and their correlation."""
    if len(p.ranking) < 2:
        return {"skipped": "needs at least two ranking policies"}
    truth, pred = MujocoBackend(p.embodiment, p.task, len(seeds)), p.factory(len(seeds))
    starts = make_starts(truth.envs[0], seeds)
    rows = []
    for name, factory in p.ranking:
        run = paired_run(
            truth, pred, starts, factory, p.horizon, open_loop=False, progress=progress, label=f"[{name}] "
        )
        rows.append({"policy": name, **metrics.outcome_stats(run.truth, run.closed_loop)})
    truth.close()
    pred.close()
    col = {
        k: np.array([r[k] for r in rows]) for k in ("success_mujoco", "success_model", "return_mujoco", "return_model")
    }
    return {
        "policies": rows,
        "episodes": len(seeds),
        "success": metrics.correlations(col["success_model"], col["success_mujoco"]),
        "return": metrics.correlations(col["return_model"], col["return_mujoco"]),
    }


def _scenarios(p: Plan, seeds: list[int], nominal: PairedRun, layout: Any, progress: bool) -> dict:
    """Open-loop errors at :data:`SCENARIO_HORIZON` steps (or the horizon, if shorter) per scenario, and
    success agreement at the episode end."""
    h = min(SCENARIO_HORIZON, p.horizon)
    rows = []
    for scen, factory in p.scenarios:
        if scen.name == "nominal" and len(seeds) <= len(nominal.truth.length):
            # The main run's first episodes have exactly these seeds: reuse them, so every row of the
            # table covers the same start states.
            run = PairedRun(nominal.truth.head(len(seeds)), nominal.open_loop.head(len(seeds)), None)
        else:
            truth, pred = MujocoBackend(p.embodiment, p.task, len(seeds), scen.edit_model), p.factory(len(seeds))
            starts = make_starts(truth.envs[0], seeds, scen.perturb_start)
            run = paired_run(
                truth, pred, starts, factory, p.horizon, closed_loop=False, progress=progress, label=f"[{scen.name}] "
            )
            truth.close()
            pred.close()
        err, length = _errors(run, layout, closed=False)
        table = metrics.horizon_table(err, length, horizons=(h,))
        rows.append(
            {
                "scenario": scen.name,
                "description": scen.description,
                "episodes": len(seeds),
                "errors": {q: table[q][str(h)] for q in metrics.QUANTITIES},
                "success_agreement": metrics.outcome_stats(run.truth, run.open_loop)["success_agreement"],
            }
        )
    nominal_row = next((r for r in rows if r["scenario"] == "nominal"), None)
    for r in rows:  # how much worse than in distribution: median error / nominal median error
        r["vs_nominal"] = {
            q: (
                r["errors"][q]["median"] / nominal_row["errors"][q]["median"]
                if nominal_row and r["errors"][q]["median"] is not None and nominal_row["errors"][q]["median"]
                else None
            )
            for q in metrics.QUANTITIES
        }
    return {"horizon": h, "rows": rows}
