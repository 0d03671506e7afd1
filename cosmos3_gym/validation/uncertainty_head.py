"""Fit a checkpoint's error heads (:mod:`cosmos3_gym.model.error_head`) with MuJoCo as judge.

Per embodiment: noisy-expert twin episodes of every task on training-range seeds (:data:`SEED` on, below
the splits' training limit and after every recipe's datasets, so no selection or report seed is used),
replayed open loop in the learned core with stochastic samples for :data:`HORIZON` steps; at every step
the core's :meth:`~cosmos3_gym.envs.learned_core.LearnedSimCore.features` against the real error (mean of
first-arm TCP and cube position errors, m). The ridge fit goes into the checkpoint's stats
(``error_head``), with its in-sample Spearman; weights are not touched.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cosmos3_gym.model.checkpoint import Checkpoint, load_checkpoint, update_stats
from cosmos3_gym.model.error_head import fit_ridge
from cosmos3_gym.tasks import TASKS, TRAIN_SEED_LIMIT
from cosmos3_gym.validation import metrics
from cosmos3_gym.validation.backends import LearnedBackend
from cosmos3_gym.validation.calibrate import add_calibration_options
from cosmos3_gym.validation.suite import twin_run

#: First fitting seed: training range, after the recipes' datasets (< 20 000) and the classic benchmark's
#: fixed seeds (50 000+).
SEED = 70_000
HORIZON = 64
#: Stochastic samples of the fitted core (the features read their spread; use as many in the envs).
SAMPLES = 2


def head_data(
    model: object, embodiment: str, task: str, seeds: Sequence[int], samples: int = SAMPLES
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(M, F)`` and real errors ``(M,)`` (m) of every valid open-loop step of ``seeds``. The
    features never read a head's output; ``model`` must not carry a head of other features (the learned core
    refuses one), so :func:`calibrate_error_heads` passes its checkpoint without heads."""
    truth, starts, traj = twin_run(embodiment, task, seeds, "noisy-expert", HORIZON)
    truth.close()
    backend = LearnedBackend(embodiment, task, len(seeds), model, uncertainty_samples=samples)
    core = backend.core
    backend.start(starts)
    feats, errs = [], []
    for t in range(HORIZON):
        backend.step(traj.actions[:, t])
        valid = t < traj.length
        err = metrics.position_error_m(truth.layout, core.state[None], traj.states[None, :, t + 1])[0]
        feats.append(core.features()[valid])
        errs.append(err[valid])
    backend.close()
    return np.concatenate(feats), np.concatenate(errs)


def calibrate_error_heads(
    model: str | Path,
    embodiments: Sequence[str] | None = None,
    episodes: int = 160,
    seed: int = SEED,
    alpha: float = 10.0,
    progress: bool = True,
) -> dict[str, dict]:
    """Fit and store the error head of each embodiment of checkpoint folder ``model``; returns per
    embodiment the samples and the in-sample Spearman of the head (and of the carried spread, feature 1)."""
    if episodes < 1 or not (0 <= seed and seed + episodes <= TRAIN_SEED_LIMIT):
        raise ValueError(f"episodes >= 1 and seeds within the training range [0, {TRAIN_SEED_LIMIT}) are needed")
    ckpt = load_checkpoint(model)
    names = list(embodiments or sorted(ckpt.stats))
    unknown = sorted(set(names) - set(ckpt.stats))
    if unknown:
        raise ValueError(f"{model}: no stats for {unknown}; it covers {sorted(ckpt.stats)}")
    seeds = list(range(seed, seed + episodes))
    stats, report = dict(ckpt.stats), {}
    # Fit on the model without heads: an old head (maybe of other features) must not be read or checked.
    bare = Checkpoint(ckpt.model, {k: replace(v, error_head=None) for k, v in ckpt.stats.items()}, ckpt.meta)
    bar = tqdm(total=len(names) * len(TASKS), desc="calibrate-uncertainty", unit="row", disable=not progress)
    with bar:
        for name in names:
            xs, ys = [], []
            for task in TASKS:
                x, y = head_data(bare, name, task, seeds)
                xs.append(x)
                ys.append(y)
                bar.update()
            x, y = np.concatenate(xs), np.concatenate(ys)
            fit = {"seeds": [seed, seed + episodes - 1], "tasks": list(TASKS), "samples": len(y)}
            head = fit_ridge(x, y, alpha, fit)
            fit["spearman_in_sample"] = metrics.correlations(head.predict(x), y)["spearman"]
            fit["spearman_carried_spread"] = metrics.correlations(x[:, 1], y)["spearman"]
            stats[name] = replace(stats[name], error_head=head.to_dict())
            report[name] = fit
    earlier = ckpt.meta.get("error_heads", {})  # a partial rerun keeps the other embodiments' records
    update_stats(ckpt, stats, {**ckpt.meta, "error_heads": {**earlier, **report}})
    return report


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``cosmos3-gym calibrate-uncertainty``."""
    add_calibration_options(p, episodes=160)
    p.add_argument("--seed", type=int, default=SEED, help=f"first seed, in the training range (default {SEED})")


def run(args: argparse.Namespace) -> int:
    """``cosmos3-gym calibrate-uncertainty``: fit, store, print the in-sample rank correlations."""
    import torch

    from cosmos3_gym.model import CheckpointError

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        report = calibrate_error_heads(args.model, args.embodiments, args.episodes, args.seed, progress=not args.json)
    except (ValueError, CheckpointError) as exc:
        raise SystemExit(f"calibrate-uncertainty: {exc}") from None
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, r in report.items():
        print(
            f"{name}: {r['samples']} steps, Spearman(head, error) {r['spearman_in_sample']:.2f} in sample "
            f"(carried spread {r['spearman_carried_spread']:.2f})"
        )
    return 0
