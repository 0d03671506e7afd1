"""One RL run: build the env, create or resume the agent, learn with evaluation/checkpoints, save.

Output folder ``out``::

    config.json          the RLConfig of the run (a resume must match its env and algorithm)
    checkpoints/         agent_<N>_steps.zip (+ agent_replay_buffer_<N>_steps.pkl for SAC)
    eval.csv             one row per evaluation (twin and learned success rate, return, distance)
    tb/                  TensorBoard events (only when tensorboard is installed)
    final_model.zip      the trained agent; ``PPO.load`` / ``SAC.load`` it and call ``predict`` on
                         observations of the learned id or of its MuJoCo twin (same spaces)
    summary.json         what :func:`train_agent` returns
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback

from cosmos3_gym.rl.callbacks import EvalCallback, TimeLimitCallback, TqdmCallback
from cosmos3_gym.rl.config import RLConfig, algo_kwargs
from cosmos3_gym.rl.envs import make_train_env
from cosmos3_gym.rl.evaluate import Evaluator

PREFIX = "agent"
_CKPT = re.compile(rf"^{PREFIX}_(\d+)_steps\.zip$")


def algo_class(algo: str) -> type[PPO] | type[SAC]:
    """SB3 class of ``ppo`` | ``sac`` | ``sac-her`` (HER is SAC with a HerReplayBuffer)."""
    return PPO if algo == "ppo" else SAC


def latest_checkpoint(folder: Path) -> tuple[Path, int] | None:
    """The checkpoint zip with the most env steps in ``folder`` and its step count, or None."""
    found = [(p, int(m.group(1))) for p in Path(folder).glob(f"{PREFIX}_*_steps.zip") if (m := _CKPT.match(p.name))]
    return max(found, key=lambda x: x[1]) if found else None


def save_final(agent: PPO | SAC, path: Path) -> None:
    """Save the deployable agent. A HER agent is saved with a plain replay-buffer config, because SB3
    refuses to load a ``HerReplayBuffer`` agent without an env; so ``SAC.load(path)`` works for every
    algorithm and ``predict`` runs on either backend. (Resuming uses ``checkpoints/``, which keep HER.)"""
    from stable_baselines3 import HerReplayBuffer
    from stable_baselines3.common.buffers import DictReplayBuffer

    if not (isinstance(agent, SAC) and agent.replay_buffer_class is HerReplayBuffer):
        agent.save(path)
        return
    saved = agent.replay_buffer_class, agent.replay_buffer_kwargs
    agent.replay_buffer_class, agent.replay_buffer_kwargs = DictReplayBuffer, {}
    try:
        agent.save(path)
    finally:
        agent.replay_buffer_class, agent.replay_buffer_kwargs = saved


def _check_resume(out: Path, cfg: RLConfig) -> None:
    saved = json.loads((out / "config.json").read_text()) if (out / "config.json").is_file() else None
    if saved is not None:
        for key in ("env_id", "algo", "num_envs"):
            if saved[key] != getattr(cfg, key):
                raise ValueError(f"--resume: {out} holds a run with {key}={saved[key]!r}, not {getattr(cfg, key)!r}")


def _last(csv_path: Path, column: str) -> float:
    """``column`` of the last row of an ``eval.csv`` (0 without one, or for a column it lacks)."""
    if not csv_path.is_file():
        return 0.0
    rows = list(csv.DictReader(csv_path.open()))
    return float(rows[-1].get(column) or 0.0) if rows else 0.0


def _prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Never replace a run silently: a non-empty ``out`` needs ``resume`` or ``overwrite``; ``overwrite``
    deletes only a run folder (one with ``config.json``), so a mistyped ``--out`` cannot wipe other files."""
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other; pick one")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if resume or not (out.is_dir() and any(out.iterdir())):
        return
    if not (out / "config.json").is_file():
        raise FileExistsError(f"{out} is not empty and holds no RL run; refusing to write a run into it")
    if not overwrite:
        raise FileExistsError(f"{out} holds an RL run; pass --resume to continue it or --overwrite to replace it")
    shutil.rmtree(out)  # its old checkpoints would otherwise be what a later --resume picks up


def train_agent(cfg: RLConfig, resume: bool = False, vec: str = "dummy", overwrite: bool = False) -> dict[str, Any]:
    """Train ``cfg.algo`` in ``cfg.env_id`` (learned or twin) for ``cfg.steps`` env steps; returns the summary.

    ``resume``: continue from the latest checkpoint in ``out/checkpoints`` (agent + SAC replay
    buffer) up to ``cfg.steps`` total; starts fresh when there is none. ``overwrite``: replace the run in
    ``out`` (a non-empty ``out`` is refused without one of the two). ``vec``: twin VecEnv kind.
    """
    cfg.check()
    out = Path(cfg.out)
    _prepare_out(out, resume, overwrite)
    ckpt_dir = out / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        _check_resume(out, cfg)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    target, cls = cfg.target, algo_class(cfg.algo)
    env, anchor = make_train_env(cfg, vec)
    tb = str(out / "tb") if importlib.util.find_spec("tensorboard") else None
    latest = latest_checkpoint(ckpt_dir) if resume else None
    bc_mse, bc_s = None, 0.0
    if latest is not None:
        agent = cls.load(latest[0], env=env, device=cfg.device, tensorboard_log=tb)
        buffer = ckpt_dir / f"{PREFIX}_replay_buffer_{latest[1]}_steps.pkl"
        if cls is SAC and buffer.is_file():
            agent.load_replay_buffer(buffer)
    else:
        agent = cls("MultiInputPolicy", env, tensorboard_log=tb, **algo_kwargs(cfg))
        if cfg.bc_episodes:  # a fresh run only: a resumed agent already carries its warm start
            from cosmos3_gym.rl.warmstart import behaviour_clone, demonstrations

            t_bc = time.perf_counter()
            model = cfg.model if target.learned else None
            obs, actions = demonstrations(target.embodiment, target.task, cfg.bc_episodes, cfg.seed, model)
            bc_mse = behaviour_clone(agent, obs, actions, cfg.bc_epochs, seed=cfg.seed)
            bc_s = time.perf_counter() - t_bc
    if anchor is not None:
        anchor.agent = agent
    evaluator = Evaluator(target.embodiment, target.task, cfg.model if target.learned else None, cfg.device)
    seeds = list(range(cfg.eval_seed, cfg.eval_seed + cfg.eval_episodes))
    every = cfg.checkpoint_every or cfg.eval_every or cfg.steps
    saver = CheckpointCallback(max(every // cfg.num_envs, 1), str(ckpt_dir), PREFIX, save_replay_buffer=cls is SAC)
    evals = EvalCallback(
        evaluator,
        seeds,
        cfg.eval_every,
        out / "eval.csv",
        learned=target.learned,
        wall_offset=_last(out / "eval.csv", "wall_s") if latest else bc_s,  # the warm start is training time
        train_offset=_last(out / "eval.csv", "train_s") if latest else bc_s,
    )
    callbacks = [evals, saver, TqdmCallback(cfg.steps, cfg.progress)]
    limit = TimeLimitCallback(cfg.time_limit_s, evals) if cfg.time_limit_s else None
    if limit is not None:
        callbacks.append(limit)
    start_steps, t0 = agent.num_timesteps, time.perf_counter()
    if cfg.steps > agent.num_timesteps:
        agent.learn(
            cfg.steps - agent.num_timesteps,
            reset_num_timesteps=latest is None,
            tb_log_name="run",
            callback=CallbackList(callbacks),
        )
    wall, eval_time = time.perf_counter() - t0, evals.seconds
    agent.save(ckpt_dir / f"{PREFIX}_{agent.num_timesteps}_steps.zip")
    if cls is SAC:
        agent.save_replay_buffer(ckpt_dir / f"{PREFIX}_replay_buffer_{agent.num_timesteps}_steps.pkl")
    save_final(agent, out / "final_model.zip")
    final = (
        evals.rows[-1] if evals.rows and evals.rows[-1]["timesteps"] == agent.num_timesteps else evals.evaluate(agent)
    )
    new_steps = agent.num_timesteps - start_steps
    summary = {
        "env_id": cfg.env_id,
        "algo": cfg.algo,
        "trained_in": "learned" if target.learned else "mujoco",
        "twin_id": target.twin_id,
        "num_envs": cfg.num_envs,
        "num_timesteps": agent.num_timesteps,
        "new_steps": new_steps,
        "wall_s": round(wall, 2),
        "train_wall_s": round(wall - eval_time + bc_s, 2),  # the warm start included
        "stopped_by_time_limit": bool(limit is not None and limit.hit),
        "env_steps_per_s": round(new_steps / max(wall - eval_time, 1e-9), 1),
        "final_eval": final,
        "final_model": str((out / "final_model.zip").resolve()),
        "resumed_from": str(latest[0]) if latest else None,
        "reanchors": anchor.count if anchor is not None else 0,
        "reanchor_twin_steps": anchor.twin_steps if anchor is not None else 0,
        "tensorboard": tb,
        "guards": {k: getattr(cfg, k) for k in cfg.guards_used()},
        "bc_episodes": cfg.bc_episodes,
        "bc_mse": bc_mse,
        "bc_s": round(bc_s, 2),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    env.close()
    evaluator.close()
    return summary
