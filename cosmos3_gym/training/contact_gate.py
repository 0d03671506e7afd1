"""Fit the contact gate (:mod:`cosmos3_gym.model.contact_gate`) of one embodiment on recorded transitions.

Every frame of the given datasets is a sample: the gate's features of ``state_t`` under its recorded action
against whether the cube moved by ``next_state_t``. A small MLP is trained with binary cross-entropy on a
seeded split of the episodes; the held-out episodes give the accuracy, recall and precision recorded with it.
The least pusher clearance (:func:`~cosmos3_gym.model.contact_gate.clearance`) is read from the same states.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from cosmos3_gym.data.dataset import StateDataset, concat, load_dataset
from cosmos3_gym.model.checkpoint import load_checkpoint, update_stats
from cosmos3_gym.model.contact_gate import MOVE_M, THRESHOLD, ContactGate, clearance, gate_features
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.tokens import Embodiment, load_embodiment

HIDDEN = (64, 64)
#: Training passes over the frames (4 gave held-out recall 0.93-0.96, 30 gave 0.95-0.98).
EPOCHS = 30


def gate_data(ds: StateDataset, emb: Embodiment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features ``(N, F)``, labels ``(N,)`` bool (the cube moved more than :data:`MOVE_M`) and episode ids
    ``(N,)`` of every frame of ``ds`` whose sources are all ``emb``."""
    names = {src.embodiment for src in ds.sources}
    if names != {emb.name}:
        raise ValueError(f"gate_data: the dataset holds {sorted(names)}, expected only {emb.name!r}")
    S, D = emb.layout.size, emb.raw_action_dim
    prior = CommandPrior(emb)
    state, nxt = ds.state[:, :S].astype(np.float64), ds.next_state[:, :S].astype(np.float64)
    before = np.roll(state, 1, axis=0)
    first = ds.frame_index == 0
    before[first] = state[first]
    target = prior.arm_tcp(prior.commanded(state, ds.raw_action[:, :D]))
    x = gate_features(prior, before, state, target)
    lay = emb.layout
    moved = np.linalg.norm(lay.get(nxt, "cube_pos") - lay.get(state, "cube_pos"), axis=-1) > MOVE_M
    return x, moved, ds.episode_index


def fit_gate(
    x: np.ndarray,
    y: np.ndarray,
    episodes: np.ndarray,
    seed: int = 0,
    epochs: int = EPOCHS,
    held_out: float = 0.1,
    fit: dict | None = None,
) -> ContactGate:
    """Train the gate on ``x (N, F)``, ``y (N,)``; a seeded ``held_out`` fraction of the ``episodes (N,)`` is
    kept out for the recorded held-out accuracy, recall ("moves" found) and precision at 0.5."""
    rng = np.random.default_rng(seed)
    ids = np.unique(episodes)
    test = np.isin(episodes, rng.choice(ids, max(1, int(len(ids) * held_out)), replace=False))
    mean, std = x[~test].mean(0), x[~test].std(0) + 1e-6
    torch.manual_seed(seed)
    dims = (x.shape[1], *HIDDEN, 1)
    net = torch.nn.Sequential()
    for i in range(len(dims) - 1):
        net.append(torch.nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            net.append(torch.nn.ReLU())
    xt = torch.as_tensor((x - mean) / std, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    train = np.flatnonzero(~test)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(train), generator=gen).split(1024):
            rows = torch.as_tensor(train[batch.numpy()])
            opt.zero_grad()
            loss_fn(net(xt[rows])[:, 0], yt[rows]).backward()
            opt.step()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = [[m.weight.detach().T.double().tolist(), m.bias.detach().double().tolist()] for m in linears]
    gate = ContactGate(mean.tolist(), std.tolist(), layers)
    pred = gate.probability(x[test]) >= 0.5
    truth = y[test]
    summary = {
        "frames": len(x),
        "moving_fraction": round(float(y.mean()), 4),
        "held_out_frames": int(test.sum()),
        "held_out_accuracy": round(float((pred == truth).mean()), 4),
        "held_out_recall": round(float((pred & truth).sum() / max(truth.sum(), 1)), 4),
        "held_out_precision": round(float((pred & truth).sum() / max(pred.sum(), 1)), 4),
        "seed": seed,
        "epochs": epochs,
    }
    return ContactGate(mean.tolist(), std.tolist(), layers, fit={**(fit or {}), **summary})


def calibrate_contact_gates(
    model: str | Path,
    data: Sequence[str | Path],
    threshold: float = THRESHOLD,
    seed: int = 0,
    epochs: int = EPOCHS,
    push_out: bool = True,
    progress: bool = True,
) -> dict[str, dict]:
    """Fit and store the contact gate of every embodiment of checkpoint folder ``model`` that the datasets
    ``data`` hold (each dataset is one embodiment's), with the least pusher clearance of those datasets
    (``push_out``; else none is enforced); returns each gate's ``fit`` summary. Weights are not touched;
    embodiments without data keep their gate."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    ckpt = load_checkpoint(model)
    groups: dict[str, list[StateDataset]] = {}
    for path in data:
        ds = load_dataset(path)
        groups.setdefault(ds.sources[0].embodiment, []).append(ds)
    unknown = sorted(set(groups) - set(ckpt.stats))
    if unknown:
        raise ValueError(f"{model}: no stats for {unknown} (it covers {sorted(ckpt.stats)})")
    stats, report = dict(ckpt.stats), {}
    for name in tqdm(sorted(groups), desc="calibrate-contact", unit="robot", disable=not progress):
        emb, ds = load_embodiment(name), concat(groups[name])
        x, y, episodes = gate_data(ds, emb)
        paths = [str(d.sources[0].path) for d in groups[name]]
        gate = fit_gate(x, y, episodes, seed, epochs, fit={"data": paths})
        least = clearance(CommandPrior(emb), ds.state[:, : emb.layout.size].astype(np.float64)) if push_out else None
        gate = replace(gate, threshold=threshold, clearance_m=least)
        stats[name] = replace(stats[name], contact_gate=gate.to_dict())
        report[name] = {**gate.fit, "clearance_mm": None if least is None else round(least * 1000, 2)}
    update_stats(ckpt, stats, {**ckpt.meta, "contact_gates": report})
    return report


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``cosmos3-gym calibrate-contact``."""
    p.add_argument("--model", required=True, help="checkpoint folder to calibrate in place (its config.json)")
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="datasets written by 'collect'")
    p.add_argument(
        "--threshold", type=float, default=THRESHOLD, help=f"p(move) below which a cube stays (default {THRESHOLD})"
    )
    p.add_argument(
        "--no-push-out", action="store_true", help="do not keep closed grippers out of the cube (the gate alone)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    """``cosmos3-gym calibrate-contact``: fit, store, print each gate's held-out accuracy."""
    from cosmos3_gym.data import DatasetError
    from cosmos3_gym.model import CheckpointError

    torch.set_num_threads(args.threads)
    try:
        report = calibrate_contact_gates(
            args.model,
            args.data,
            args.threshold,
            args.seed,
            args.epochs,
            push_out=not args.no_push_out,
            progress=not args.json,
        )
    except (ValueError, CheckpointError, DatasetError) as exc:
        raise SystemExit(f"calibrate-contact: {exc}") from None
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, r in report.items():
        print(
            f"{name}: {r['frames']} frames ({r['moving_fraction']:.0%} moving); held out: accuracy "
            f"{r['held_out_accuracy']:.3f}, recall {r['held_out_recall']:.3f}, precision {r['held_out_precision']:.3f}"
            + ("" if r["clearance_mm"] is None else f"; pusher clearance {r['clearance_mm']:.1f} mm")
        )
    return 0
