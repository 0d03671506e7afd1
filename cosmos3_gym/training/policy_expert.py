"""Train the world model's policy expert (:class:`~cosmos3_gym.model.world_model.PolicyExpert`) on DART
demonstrations, every other weight frozen.

The shared weights learn the policy mode from clean expert episodes only, next to the dynamics: a policy
cloned so never sees a state off the expert's path and compounds its errors there, and giving it more
windows moved the dynamics. Here the policy gets weights of its own and data of its own: noisy-expert
rollouts in the MuJoCo twin labelled with the clean expert's actions (:mod:`cosmos3_gym.sim.demos`), turned
into raw Cosmos3 action chunks at each state's TCP pose, i.e. the same tokens every other mode reads. The
dynamics' weights do not move, so forward and inverse dynamics stay bit-identical.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from cosmos3_gym.model.checkpoint import CONFIG, Checkpoint, load_checkpoint, save_checkpoint
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.tasks.splits import TRAIN_SEED_LIMIT
from cosmos3_gym.tokens.native import NativeActionMap
from cosmos3_gym.training.episodes import Episode
from cosmos3_gym.training.flow import flow_loss
from cosmos3_gym.training.windows import WindowSampler

#: DART noise std per demonstration episode, cycled (native units): near the path and well off it.
POLICY_NOISES = (0.1, 0.3)
#: Contact focus: windows starting from this many steps before the cube first moves to this many after.
FOCUS_BEFORE, FOCUS_AFTER = 24, 8
#: The cube has moved once it is this far from its start position (m).
ONSET_M = 0.002


def dart_policy_episodes(
    embodiment: str, task: str, episodes: int, seed: int, noises: Sequence[float] = POLICY_NOISES
) -> list[Episode]:
    """``episodes`` DART episodes in the MuJoCo twin (episode ``i`` resets with ``seed + i`` and noise
    ``noises[i % len(noises)]``): the visited states ``(T+1, S)`` and the clean expert's raw Cosmos3 actions
    ``(T, D)``, marked as expert demonstrations."""
    if episodes < 1 or seed < 0 or seed + episodes > TRAIN_SEED_LIMIT:
        raise ValueError(
            f"DART episodes: {episodes} from seed {seed} must be at least one and stay within the training "
            f"seeds 0..{TRAIN_SEED_LIMIT - 1}"
        )
    from cosmos3_gym.sim.demos import dart_episode
    from cosmos3_gym.sim.twin_env import MujocoTwinEnv

    env = MujocoTwinEnv(embodiment, task)
    prior, nmap = CommandPrior(env.emb), NativeActionMap(env.emb)
    rng = np.random.default_rng(seed)
    out = []
    try:
        for i in range(episodes):
            obs, labels = dart_episode(env, env, seed + i, noises[i % len(noises)], rng)
            states = np.stack([o["observation"] for o in obs]).astype(np.float64)
            _, raw = nmap.command(prior.arm_tcp(states[:-1]), labels.astype(np.float64))
            out.append(Episode(embodiment, task, states, raw, obs[-1]["desired_goal"].astype(np.float64), True))
    finally:
        env.close()
    return out


def contact_focus(episodes: Sequence[Episode], factor: float) -> np.ndarray:
    """One weight per window start of ``episodes`` (episode order, as :class:`WindowSampler` lists them):
    ``factor`` for windows starting from ``FOCUS_BEFORE`` steps before the cube first moves to ``FOCUS_AFTER``
    steps after (the approach, grasp or push onset), 1 elsewhere and in episodes whose cube never moves.

    Without it most of a Lift demonstration is the cube held still at the goal, and the few steps that decide
    a grasp are a small share of the windows."""
    from cosmos3_gym.tokens import load_embodiment

    layouts = {name: load_embodiment(name).layout for name in {e.embodiment for e in episodes}}
    out = []
    for e in episodes:
        cube = layouts[e.embodiment].get(e.states[:-1], "cube_pos")
        moved = np.flatnonzero(np.linalg.norm(cube - cube[0], axis=-1) > ONSET_M)
        w = np.ones(len(e.raw_actions))
        if len(moved):
            w[max(0, moved[0] - FOCUS_BEFORE) : moved[0] + FOCUS_AFTER + 1] = factor
        out.append(w)
    return np.concatenate(out)


@dataclass(frozen=True)
class PolicyTrainConfig:
    """Optimizer and schedule of :func:`train_policy_expert` (cosine decay after a linear warm-up)."""

    steps: int = 3000
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup: int = 100
    seed: int = 0
    #: Share of windows on the flow's deterministic path (ε = 0, τ = 0), the path the policy head acts on.
    deterministic: float = 0.4
    #: Weight of the jointly generated future states in the loss (the actions are what the policy acts with).
    state_weight: float = 1.0
    #: Weight of the windows around the cube's first motion against the others (:func:`contact_focus`).
    focus: float = 1.0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"PolicyTrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0 or self.warmup < 0 or self.weight_decay < 0 or self.state_weight < 0:
            raise ValueError(
                f"PolicyTrainConfig: lr > 0 and warmup, weight_decay, state_weight >= 0 needed, got {self}"
            )
        if not self.focus >= 1:
            raise ValueError(f"PolicyTrainConfig.focus must be >= 1 (1: uniform windows), got {self.focus}")
        if not 0 <= self.deterministic <= 1:
            raise ValueError(f"PolicyTrainConfig.deterministic must be in [0, 1], got {self.deterministic}")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def train_policy_expert(
    ckpt: Checkpoint,
    episodes: Sequence[Episode],
    cfg: PolicyTrainConfig,
    log: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, float]:
    """Give ``ckpt``'s model a policy expert (copied from the shared weights) if it has none, and train it on
    the policy-mode flow loss over ``episodes`` (expert-marked), every other parameter frozen. ``log(step,
    parts)`` is called every 100 steps. Returns the mean loss parts of the last 100 steps."""
    if not episodes or not all(e.expert for e in episodes):
        raise ValueError("the policy expert trains on expert demonstrations only (Episode.expert = True)")
    model = ckpt.model
    if model.policy_expert is None:
        model.add_policy_expert()
    torch.manual_seed(cfg.seed)
    params = list(model.policy_expert.parameters())
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    sampler = WindowSampler(episodes, ckpt.stats, model.cfg.history, model.cfg.chunk, cfg.seed, model.cfg.object_prior)
    if cfg.focus != 1:
        sampler.weight_policy_windows(contact_focus(episodes, cfg.focus))
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        return 0.5 * (1 + math.cos(math.pi * (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    recent: list[dict[str, float]] = []
    try:
        for step in range(cfg.steps):
            batch = sampler.batch(0, policy=cfg.batch_size)
            loss, parts = flow_loss(model, batch, gen, p_deterministic=cfg.deterministic, state_weight=cfg.state_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            recent = [*recent, parts][-100:]
            if log is not None and (step + 1) % 100 == 0:
                log(step + 1, {k: float(np.mean([r[k] for r in recent])) for k in parts})
    finally:
        model.eval()
        for p in model.parameters():
            p.requires_grad_(True)
    return {k: float(np.mean([r[k] for r in recent])) for k in recent[0]}


def _row_episodes(job: tuple[str, str, int, int]) -> list[Episode]:
    return dart_policy_episodes(*job)


def collect_dart(
    rows: Sequence[tuple[str, str]], episodes: int, seed: int, workers: int = 1, progress: bool = False
) -> list[Episode]:
    """DART episodes for every ``(embodiment, task)`` of ``rows``: row ``i`` resets with seeds ``seed + i ·
    episodes …``; ``workers`` processes (one row each at a time), results in row order."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    jobs = [(emb, task, episodes, seed + i * episodes) for i, (emb, task) in enumerate(rows)]
    if seed < 0 or seed + len(jobs) * episodes > TRAIN_SEED_LIMIT:
        raise ValueError(
            f"DART seeds {seed}..{seed + len(jobs) * episodes - 1} leave the training seeds 0..{TRAIN_SEED_LIMIT - 1}"
        )
    bar = tqdm(total=len(jobs), desc="DART demos", unit="row", disable=not progress)
    out: list[Episode] = []
    if workers <= 1:
        for job in jobs:
            out += _row_episodes(job)
            bar.update()
    else:
        with ProcessPoolExecutor(workers) as pool:
            for eps in pool.map(_row_episodes, jobs):
                out += eps
                bar.update()
    bar.close()
    return out


def save_demos(path: Path, episodes: Sequence[Episode], recipe: dict, collect_s: float) -> None:
    """Write DART episodes to ``path`` (``.npz``, atomically) with the ``recipe`` that made them and the wall
    time it took (s)."""
    arrays: dict[str, np.ndarray] = {"recipe": np.array(json.dumps(recipe, sort_keys=True))}
    arrays["collect_s"] = np.array(collect_s)
    for key in dict.fromkeys((e.embodiment, e.task) for e in episodes):
        group = [e for e in episodes if (e.embodiment, e.task) == key]
        name = ".".join(key)
        arrays[f"{name}.states"] = np.concatenate([e.states for e in group])
        arrays[f"{name}.raw"] = np.concatenate([e.raw_actions for e in group])
        arrays[f"{name}.lengths"] = np.array([len(e.raw_actions) for e in group])
        arrays[f"{name}.goals"] = np.stack([e.goal for e in group])
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_demos(path: Path, recipe: dict) -> tuple[list[Episode], float]:
    """The DART episodes :func:`save_demos` wrote to ``path`` and their collection time (s); a ``ValueError``
    if another recipe made them."""
    with np.load(path) as f:
        found = json.loads(str(f["recipe"]))
        if found != json.loads(json.dumps(recipe, sort_keys=True)):
            raise ValueError(f"{path} holds demonstrations of another recipe ({found}); give another --demos file")
        out = []
        for emb, task in found["rows"]:
            name = f"{emb}.{task}"
            states, raw, goals = f[f"{name}.states"], f[f"{name}.raw"], f[f"{name}.goals"]
            a = s = 0
            for n, goal in zip(f[f"{name}.lengths"], goals, strict=True):
                out.append(Episode(emb, task, states[s : s + n + 1], raw[a : a + n], goal, True))
                a, s = a + n, s + n + 1
        return out, float(f["collect_s"])


#: First DART reset seed of ``train-policy`` (training seeds; 0–19 999 are the world model's own data).
DART_SEED = 20_000


def add_arguments(p: argparse.ArgumentParser, embodiment_type: Callable[[str], str] = str) -> None:
    """The options of ``cosmos3-gym train-policy``; ``embodiment_type`` parses each of ``--embodiments`` (the CLI
    gives the one that also takes a robot YAML's path)."""
    from cosmos3_gym.tasks import TASKS

    p.add_argument("--model", default="default", help="checkpoint whose policy mode to train (default: the shipped)")
    p.add_argument("--out", required=True, help="new checkpoint folder (must not hold a checkpoint yet)")
    p.add_argument(
        "--embodiments", nargs="+", type=embodiment_type, help="names or robot YAMLs (default: all the model covers)"
    )
    p.add_argument("--tasks", nargs="+", choices=tuple(TASKS), default=list(TASKS))
    p.add_argument("--episodes", type=int, default=200, help="DART episodes per embodiment x task (default 200)")
    p.add_argument("--seed", type=int, default=DART_SEED, help=f"first DART reset seed (default {DART_SEED})")
    defaults = PolicyTrainConfig()
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--deterministic", type=float, default=defaults.deterministic, help="share of ε = 0 windows")
    p.add_argument("--state-weight", type=float, default=defaults.state_weight, help="loss weight of the states")
    p.add_argument(
        "--focus", type=float, default=defaults.focus, help="weight of the windows around the cube's first motion"
    )
    p.add_argument("--demos", type=Path, help="an .npz cache of the demonstrations: read if present, else written")
    p.add_argument("--workers", type=int, default=1, help="processes for the demonstrations (default 1)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for training (default 1)")


def run(args: argparse.Namespace) -> int:
    """``cosmos3-gym train-policy``: DART demonstrations in the twins, then the policy expert; writes ``--out``.
    A bad option is a ``ValueError`` (one line from the CLI), raised before any demonstration runs."""
    out = Path(args.out)
    if (out / CONFIG).exists():
        raise ValueError(f"{out} already holds a checkpoint; give a new folder")
    cfg = PolicyTrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        deterministic=args.deterministic,
        state_weight=args.state_weight,
        focus=args.focus,
    )
    ckpt = load_checkpoint(args.model)
    names = args.embodiments or sorted(ckpt.stats)
    missing = sorted(set(names) - set(ckpt.stats))
    if missing:
        raise ValueError(f"{args.model} covers {sorted(ckpt.stats)}, not {missing}")
    if args.workers < 1 or args.threads < 1:
        raise ValueError(f"--workers and --threads must be >= 1, got {args.workers} and {args.threads}")
    torch.set_num_threads(args.threads)
    rows = [(n, t) for n in names for t in args.tasks]
    demo_recipe = {"rows": [list(r) for r in rows], "episodes": args.episodes, "seed": args.seed}
    demo_recipe["noises"] = list(POLICY_NOISES)
    t0 = time.time()
    if args.demos is not None and args.demos.exists():
        episodes, demo_s = load_demos(args.demos, demo_recipe)
    else:
        episodes = collect_dart(rows, args.episodes, args.seed, args.workers, progress=True)
        demo_s = time.time() - t0
        if args.demos is not None:
            save_demos(args.demos, episodes, demo_recipe, demo_s)
    t1 = time.time()
    parts = train_policy_expert(ckpt, episodes, cfg, log=lambda k, v: print(f"step {k}: {json.dumps(v)}"))
    recipe = {
        "init": str(args.model),
        "rows": [list(r) for r in rows],
        "episodes_per_row": args.episodes,
        "noises": list(POLICY_NOISES),
        "seeds": [args.seed, args.seed + len(rows) * args.episodes - 1],
        "transitions": int(sum(len(e.raw_actions) for e in episodes)),
        "train": cfg.to_dict(),
        "final_loss": parts,
        "demo_s": round(demo_s, 1),
        "train_s": round(time.time() - t1, 1),
    }
    save_checkpoint(out, ckpt.model, ckpt.stats, {**ckpt.meta, "policy_expert": recipe})
    print(f"policy expert written to {out} ({recipe['transitions']} transitions, {recipe['train_s']:.0f} s training)")
    return 0
