"""World-model training loop: AdamW + cosine schedule, periodic validation, CSV log, checkpoints, resume."""

from __future__ import annotations

import csv
import json
import math
import time
import warnings
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from cosmos3_gym.model import (
    PRESETS,
    Checkpoint,
    CheckpointError,
    WorldModel,
    load_checkpoint,
    preset,
    save_checkpoint,
)
from cosmos3_gym.model.checkpoint import StateStats
from cosmos3_gym.model.config import TASK_NAMES, WorldModelConfig
from cosmos3_gym.model.device import check_device
from cosmos3_gym.model.inference import ModeRunner
from cosmos3_gym.training import distributed
from cosmos3_gym.training.episodes import Episode, split_episodes
from cosmos3_gym.training.flow import flow_loss
from cosmos3_gym.training.windows import WindowSampler, compute_stats

OPTIMIZER_FILE = "optimizer.pt"


@dataclass
class TrainConfig:
    """Training hyper-parameters (all recorded in the checkpoint's meta). Each field is a ``train`` option:
    the ``help`` in its metadata is the option's help (:mod:`cosmos3_gym.rl.options`)."""

    size: str = field(default="small", metadata={"help": "model size preset", "choices": tuple(sorted(PRESETS))})
    steps: int = field(default=4000, metadata={"help": "optimizer steps"})
    batch_size: int = field(default=128, metadata={"help": "windows per batch"})
    lr: float = field(default=1e-3, metadata={"help": "peak AdamW learning rate (cosine schedule after the warm-up)"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    warmup: int = field(default=200, metadata={"help": "linear learning-rate warm-up, optimizer steps"})
    val_fraction: float = field(default=0.1, metadata={"help": "fraction of the episodes held out for validation"})
    val_every: int = field(default=500, metadata={"help": "optimizer steps between validations (and checkpoint saves)"})
    val_windows: int = field(default=512, metadata={"help": "windows per validation"})
    seed: int = field(default=0, metadata={"help": "seed of the initialization, the split and the batches"})
    device: str = field(default="cpu", metadata={"help": "cpu, cuda, cuda:0, ..."})
    residual_prior: bool = field(
        default=True, metadata={"help": "forward dynamics learns the residual from the commanded poses"}
    )
    id_prior: bool = field(
        default=True, metadata={"help": "inverse dynamics learns the residual from the analytic contract inverse"}
    )
    goal_relative: bool = field(
        default=True, metadata={"help": "the task token reads the goal error (policy mode only)"}
    )
    task_blind: bool = field(
        default=False, metadata={"help": "forward and inverse dynamics do not read the task (policy mode only)"}
    )
    object_prior: bool = field(
        default=False, metadata={"help": "the forward prior carries a held cube with the arm's commanded pose"}
    )
    init_from: str | None = field(
        default=None,
        metadata={
            "help": "start from this checkpoint's weights and normalization stats (its architecture, with the "
            "prior and task flags above); the step count and learning-rate schedule start at 0",
            "metavar": "CKPT",
        },
    )
    # Expert windows added to every batch for the policy mode, evenly over embodiment × task: without
    # them Reach demos (~3 % of windows) gave the policy head ~1 sample per batch.
    policy_batch: int = field(
        default=32,
        metadata={"help": "expert windows per batch for the policy mode, even over embodiment x task"},
    )


#: TrainConfig fields a resume takes from the checkpoint (its architecture and priors), whatever the config says.
FIXED_ON_RESUME = ("size", "residual_prior", "id_prior", "goal_relative", "task_blind", "object_prior")


def checkpoint_settings(model_cfg: WorldModelConfig) -> dict[str, Any]:
    """The :data:`FIXED_ON_RESUME` values of a checkpoint's model: its size preset (matched by dimensions;
    None for a custom one) and its prior flags."""
    dims = (model_cfg.d_model, model_cfg.n_layers, model_cfg.n_heads)
    size = next((n for n, p in PRESETS.items() if (p.d_model, p.n_layers, p.n_heads) == dims), None)
    return {"size": size, **{k: getattr(model_cfg, k) for k in FIXED_ON_RESUME[1:]}}


def check_output(out: Path, resume: bool, overwrite: bool) -> None:
    """Never replace weights silently: a non-empty ``out`` needs ``resume`` (continue it) or ``overwrite``
    (replace it; only a checkpoint folder, so a mistyped ``--out`` cannot land in a dataset)."""
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other; pick one")
    if resume or not (out.is_dir() and any(out.iterdir())):
        if out.exists() and not out.is_dir():
            raise FileExistsError(f"{out} exists and is not a folder")
        return
    if not (out / "config.json").is_file():
        raise FileExistsError(f"{out} is not empty and holds no checkpoint; refusing to write a checkpoint into it")
    if not overwrite:
        raise FileExistsError(f"{out} holds a checkpoint; pass --resume to continue it or --overwrite to replace it")


@torch.no_grad()
def validate(
    model: WorldModel, sampler: WindowSampler, stats: dict[str, StateStats], windows: int, seed: int
) -> dict[str, float]:
    """Validation loss and deterministic open-loop TCP error (mm) at the last row of each full window,
    generated row by row as the environments do (:meth:`ModeRunner.forward_dynamics`)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    idx = np.random.default_rng(seed).integers(0, len(sampler), windows)
    _, parts = flow_loss(model, sampler.batch(windows, idx), gen)
    phys = sampler.physical(idx)
    ckpt = Checkpoint(model, stats)
    errors = []
    for i, name in enumerate(sorted(stats)):
        runner, size = ModeRunner(ckpt, name), stats[name].size
        tcp = runner.prior.pos[0]
        for ti, task in enumerate(TASK_NAMES):
            sel = (phys["embodiment"] == i) & (phys["task"] == ti) & phys["valid"][:, -1]
            if not sel.any():
                continue
            hist, raw = phys["history"][sel, :, :size], phys["raw"][sel, :, : runner.emb.raw_action_dim]
            pred = runner.forward_dynamics(hist, raw, phys["goal"][sel], task)
            errors.append(np.linalg.norm(pred[:, -1, tcp] - phys["future"][sel, -1, tcp], axis=-1))
    model.train()
    out = {f"val_{k}": v for k, v in parts.items()}
    if errors:
        out["val_tcp_mm_h16"] = float(np.median(np.concatenate(errors))) * 1000.0
    return out


def train(
    episodes: Sequence[Episode],
    out: str | Path,
    cfg: TrainConfig,
    resume: bool = False,
    progress: bool = True,
    meta: dict | None = None,
    overwrite: bool = False,
    given: Collection[str] = (),
) -> Path:
    """Train (or resume) a world model on ``episodes``; writes a checkpoint folder and ``train_log.csv``.

    A non-empty ``out`` is refused unless ``resume`` or ``overwrite`` (:func:`check_output`). A resume keeps
    the checkpoint's architecture and priors (:data:`FIXED_ON_RESUME`, recorded as such); one of those in
    ``given`` (the options the user set) with another value is refused as a contradiction.

    Under ``torchrun`` with N > 1 ranks this is data-parallel (:mod:`.distributed`): the same global batch
    and optimizer steps as one process, rank 0 alone writing the log and checkpoints.
    """
    out = Path(out)
    check_device(cfg.device)  # before anything is read or written
    check_output(out, resume, overwrite)  # every rank checks before the rendezvous, so before rank 0 writes
    shard = distributed.start(cfg.device)
    try:
        return _train(episodes, out, cfg, resume, progress, meta, given, shard)
    finally:
        distributed.stop(shard)


def _train(
    episodes: Sequence[Episode],
    out: Path,
    cfg: TrainConfig,
    resume: bool,
    progress: bool,
    meta: dict | None,
    given: Collection[str],
    shard: distributed.Shard,
) -> Path:
    device = shard.device(cfg.device)
    torch.manual_seed(cfg.seed)
    train_eps, val_eps = split_episodes(episodes, cfg.val_fraction, cfg.seed)
    if resume:
        ckpt = load_checkpoint(out, device)
        model, stats = ckpt.model, ckpt.stats
        have = {k: v for k, v in checkpoint_settings(model.cfg).items() if v is not None}
        clash = [
            f"{k}={getattr(cfg, k)!r} (it has {v!r})" for k, v in have.items() if k in given and getattr(cfg, k) != v
        ]
        if clash:
            raise CheckpointError(f"--resume: {out} was trained with other settings: {', '.join(clash)}")
        cfg = replace(cfg, **have)  # what the run really is, in the recorded train_config
        start = int(ckpt.meta.get("step", 0))
    else:
        flags = {k: getattr(cfg, k) for k in FIXED_ON_RESUME[1:]}
        if cfg.init_from:
            init = load_checkpoint(cfg.init_from, device)
            # A robot the base has never seen (a user's own) gets normalization stats from the data; the
            # base's robots keep theirs, so its weights stay calibrated for them.
            new = [e for e in train_eps if e.embodiment not in init.stats]
            stats = {**compute_stats(new, object_prior=cfg.object_prior), **init.stats} if new else init.stats
            model = WorldModel(replace(init.model.cfg, **flags)).to(device)
            model.load_state_dict(init.model.state_dict())
        else:
            stats = compute_stats(train_eps, object_prior=cfg.object_prior)
            model = WorldModel(replace(preset(cfg.size), **flags)).to(device)
        start = 0
    model.train()
    chunk, history, obj = model.cfg.chunk, model.cfg.history, model.cfg.object_prior
    sampler = WindowSampler(train_eps, stats, history, chunk, cfg.seed + start, obj)
    val_sampler = WindowSampler(val_eps, stats, history, chunk, cfg.seed, obj) if val_eps else None
    n_policy = cfg.policy_batch if sampler.policy_groups else 0
    if cfg.policy_batch and not n_policy:
        warnings.warn("no expert episodes in the data: the policy mode is not trained", stacklevel=3)
    shard.check_batch(cfg.batch_size, n_policy)
    rows = shard.rows(cfg.batch_size, n_policy) if shard.world > 1 else None
    # The reasoner's last feed-forward is never read (the generator reads its keys and values only).
    net = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True) if shard.world > 1 else model
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if resume and (out / OPTIMIZER_FILE).is_file():
        opt.load_state_dict(torch.load(out / OPTIMIZER_FILE, weights_only=True))  # tensors only, no pickle code

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))))

    if shard.is_main:
        out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train_log.csv"
    fields = [
        "step",
        "lr",
        "loss",
        "loss_state",
        "loss_action",
        "val_loss",
        "val_loss_state",
        "val_loss_action",
        "val_tcp_mm_h16",
        "elapsed_s",
    ]
    log_file = log_path.open("a" if resume and log_path.exists() else "w", newline="") if shard.is_main else None
    writer = csv.DictWriter(log_file, fieldnames=fields) if log_file else None
    if writer and log_file.tell() == 0:
        writer.writeheader()
    gen = torch.Generator().manual_seed(cfg.seed + start)
    t0 = time.time()
    run_meta = {"train_config": asdict(cfg), "episodes": len(episodes), "windows": len(sampler), **(meta or {})}
    if shard.world > 1:
        run_meta["data_parallel"] = {"ranks": shard.world, "backend": torch.distributed.get_backend()}

    def save(step: int, extra: dict) -> None:
        save_checkpoint(out, model, stats, {**run_meta, "step": step, **extra})
        torch.save(opt.state_dict(), out / OPTIMIZER_FILE)

    bar = tqdm(range(start, cfg.steps), disable=not (progress and shard.is_main), desc="train", unit="step")
    last: dict[str, float] = {}
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss, parts = flow_loss(net, sampler.batch(cfg.batch_size, policy=n_policy, rows=rows), gen, shard, rows)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        row = {"step": step + 1, "lr": lr_at(step), **parts, "elapsed_s": round(time.time() - t0, 1)}
        if not shard.is_main:
            continue
        if (step + 1) % cfg.val_every == 0 or step + 1 == cfg.steps:
            if val_sampler is not None:
                last = validate(model, val_sampler, stats, cfg.val_windows, cfg.seed)
                row.update(last)
            save(step + 1, last)
            bar.set_postfix({k: round(v, 4) for k, v in row.items() if k in ("loss", "val_loss", "val_tcp_mm_h16")})
        writer.writerow({k: row.get(k, "") for k in fields})
        log_file.flush()
    if not shard.is_main:
        return out
    log_file.close()
    (out / "train_summary.json").write_text(
        json.dumps({**run_meta, "final": last, "wall_s": round(time.time() - t0, 1)}, indent=1)
    )
    return out
