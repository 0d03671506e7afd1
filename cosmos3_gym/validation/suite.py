"""The contact and held-out-action suite of one embodiment × task, on a seed split (issue 18, part 1).

Shared by ``benchmarks/fidelity.py`` (every row, many episodes) and ``cosmos3-gym validate`` (one id,
few episodes). Each runner builds the twin episodes on the split's seeds and hands the predicted side,
a :data:`~cosmos3_gym.validation.backends.BackendFactory`, to the metric functions:

- :func:`expert_agreement`: the scripted expert closed loop in the model and in the twin;
- :func:`contact_and_replay`: noisy-expert twin episodes (full length) → contact-anchored windows and
  open-loop success agreement (the same episodes replayed from their start);
- :func:`action_families`: open-loop TCP error at 16 / 64 steps from reset under the held-out families,
  beside the in-distribution noisy expert on the same seeds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from cosmos3_gym.data.fanout import ordered_map, wants_ray
from cosmos3_gym.sim.policies import policy_from_spec
from cosmos3_gym.tasks import check_split, split_seeds
from cosmos3_gym.validation.agreement import closed_loop_agreement, open_loop_errors, stats
from cosmos3_gym.validation.backends import BackendFactory, LearnedBackend, MujocoBackend, StartState
from cosmos3_gym.validation.contact import contact_window_errors
from cosmos3_gym.validation.families import FAMILIES, IN_DISTRIBUTION
from cosmos3_gym.validation.rollouts import Trajectories, make_starts, rollout

#: Tasks with a cube to touch (contact windows, open-loop success agreement).
CONTACT_TASKS = ("push", "lift")
#: The policy of the twin episodes behind the contact windows and the success agreement.
REPLAY_POLICY = "noisy-expert"
#: Steps of the family rollouts, and where their errors are reported.
FAMILY_HORIZON = 64
FAMILY_STEPS = (16, 64)


def twin_run(
    embodiment: str, task: str, seeds: Sequence[int], policy: str, horizon: int | None = None
) -> tuple[MujocoBackend, list[StartState], Trajectories]:
    """``policy`` in the twin from the reset states of ``seeds`` for ``horizon`` steps (default: the task's
    episode length), ending at termination; returns the twin backend (open), the starts and the run."""
    truth = MujocoBackend(embodiment, task, len(seeds))
    starts = make_starts(truth.envs[0], seeds)
    factory = policy_from_spec(policy, truth.envs[0])
    traj = rollout(truth, starts, horizon or truth.task.max_episode_steps, policy=factory)
    return truth, starts, traj


def _seed_range(seeds: Sequence[int]) -> list[int]:
    return [int(seeds[0]), int(seeds[-1])]


def expert_agreement(embodiment: str, task: str, pred: BackendFactory, seeds: Sequence[int]) -> dict:
    """Closed-loop scripted expert (``expert``) in ``pred`` and the twin from the same seeds, full episodes."""
    truth = MujocoBackend(embodiment, task, len(seeds))
    try:
        starts = make_starts(truth.envs[0], seeds)
        policy = policy_from_spec("expert", truth.envs[0])
        row = closed_loop_agreement(truth, pred, starts, policy, truth.task.max_episode_steps)
    finally:
        truth.close()
    return {"embodiment": embodiment, "task": task, "seeds": _seed_range(seeds), **row}


def contact_and_replay(
    embodiment: str, task: str, pred: BackendFactory, seeds: Sequence[int], policy: str = REPLAY_POLICY
) -> dict:
    """Contact-anchored windows and open-loop success agreement from the same ``policy`` twin episodes."""
    truth, starts, traj = twin_run(embodiment, task, seeds, policy)
    truth.close()
    layout = truth.layout
    return {
        "embodiment": embodiment,
        "task": task,
        "policy": policy,
        "seeds": _seed_range(seeds),
        "contact_windows": contact_window_errors(traj, layout, starts, pred, task),
        "open_loop_success": open_loop_errors(traj, layout, pred, starts, FAMILY_STEPS),
    }


def action_families(
    embodiment: str,
    task: str,
    pred: BackendFactory,
    seeds: Sequence[int],
    families: Sequence[str] = (IN_DISTRIBUTION, *FAMILIES),
    horizon: int = FAMILY_HORIZON,
) -> dict:
    """Open-loop TCP error (first arm, mm) at :data:`FAMILY_STEPS` from reset under each family; the raw
    per-episode values too (``values``), so rows can be pooled over tasks."""
    out: dict = {"embodiment": embodiment, "task": task, "seeds": _seed_range(seeds), "families": {}}
    for fam in families:
        truth, starts, traj = twin_run(embodiment, task, seeds, fam, horizon)
        truth.close()
        r = open_loop_errors(traj, truth.layout, pred, starts, FAMILY_STEPS, values=("tcp_pos_mm",))
        for k in ("success_mujoco", "success_model", "success_agreement", "mujoco_only", "model_only"):
            r.pop(k)  # outcomes of arbitrary action sequences say little; the TCP error is the point here
        out["families"][fam] = {"in_distribution": fam == IN_DISTRIBUTION, **r}
    return out


def pooled_families(rows: Sequence[dict]) -> dict[str, dict[str, dict]]:
    """Pool :func:`action_families` rows (e.g. one embodiment's tasks): ``{family: {step: stats}}``."""
    pooled: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        for fam, r in row["families"].items():
            for s, v in r["values"]["tcp_pos_mm"].items():
                pooled.setdefault(fam, {}).setdefault(s, []).extend(v)
    return {fam: {s: stats(v) for s, v in by_s.items()} for fam, by_s in pooled.items()}


def validate_suite(
    embodiment: str,
    task: str,
    pred: BackendFactory,
    split: str,
    contact_episodes: int,
    family_episodes: int,
    template: RowJob | None = None,
    workers: int = 1,
    address: str | None = None,
) -> dict:
    """The suite on one id for ``cosmos3-gym validate`` (0 episodes skips a part). With ``workers`` > 1 or an
    ``address`` its parts run as Ray tasks (:func:`run_rows`) with the checkpoint and samples of ``template``
    (a :class:`RowJob` as template), which ``pred`` must then be a backend of."""
    check_split(split)
    out: dict = {"split": split}
    if wants_ray(workers, address):
        if template is None:
            raise ValueError("parallel suite rows need a checkpoint folder (or 'default'), not a backend factory")
        parts = [("expert_agreement", "expert", contact_episodes), ("action_families", "families", family_episodes)]
        if task in CONTACT_TASKS:
            parts.insert(1, ("contact", "contact", contact_episodes))
        todo = [(key, replace(template, section=sec, seeds=tuple(split_seeds(split, n)))) for key, sec, n in parts if n]
        for (key, _), row in zip(todo, run_rows([job for _, job in todo], workers, address), strict=True):
            row.pop("wall_s")
            out[key] = row
        return out
    if contact_episodes:
        seeds = split_seeds(split, contact_episodes)
        out["expert_agreement"] = expert_agreement(embodiment, task, pred, seeds)
        if task in CONTACT_TASKS:
            out["contact"] = contact_and_replay(embodiment, task, pred, seeds)
    if family_episodes:
        out["action_families"] = action_families(embodiment, task, pred, split_seeds(split, family_episodes))
    return out


#: The benchmark's sections: ``runner(embodiment, task, pred, seeds) -> row``.
SECTIONS = {"expert": expert_agreement, "contact": contact_and_replay, "families": action_families}


@dataclass(frozen=True)
class RowJob:
    """One row of a suite section: the checkpoint ``model`` (a folder or ``default``) on one id and seeds,
    with ``samples`` stochastic copies in the learned core."""

    section: str
    embodiment: str
    task: str
    model: str
    seeds: tuple[int, ...]
    samples: int = 0


def run_row(job: RowJob) -> dict:
    """The row of ``job`` and its wall time (s); a worker process loads each checkpoint once."""
    t0 = time.time()
    pred = lambda n: LearnedBackend(job.embodiment, job.task, n, job.model, uncertainty_samples=job.samples)  # noqa: E731
    row = SECTIONS[job.section](job.embodiment, job.task, pred, job.seeds)
    return {**row, "wall_s": round(time.time() - t0, 1)}


def run_rows(jobs: Iterable[RowJob], workers: int = 1, address: str | None = None) -> Iterator[dict]:
    """:func:`run_row` of every job, in order: in this process, or as Ray tasks on ``workers`` local CPUs
    (or the cluster at ``address``) -- the rows are the same either way."""
    if wants_ray(workers, address):
        return ordered_map(run_row, jobs, workers, address)
    return map(run_row, jobs)
