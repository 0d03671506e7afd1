"""Throughput timing shared by ``cosmos3-gym bench`` and ``benchmarks/throughput.py``.

Closed loop, one action per step (as an RL agent steps), smooth random actions, no learning.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import torch


def smooth_actions(shape: tuple[int, ...], steps: int, seed: int = 0) -> np.ndarray:
    """``(steps, *shape)`` float32 low-pass filtered random actions in [-1, 1]."""
    rng = np.random.default_rng(seed)
    out = np.empty((steps, *shape), np.float32)
    a = np.zeros(shape)
    for t in range(steps):
        a = 0.8 * a + 0.2 * rng.uniform(-1, 1, shape)
        out[t] = np.clip(3 * a, -1, 1)
    return out


def time_single(env: gym.Env, steps: int, threads: int | None = None) -> tuple[float, float]:
    """(env steps/s, median step latency in ms) of one env over ``steps`` steps after 20 warm-up steps.

    ``threads``: torch intra-op threads while timing (1 suits batch-1 inference; restored afterwards).
    """
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        env.reset(seed=0)
        actions = smooth_actions(env.action_space.shape, steps + 20)
        for a in actions[:20]:
            env.step(a)
        lat = np.empty(steps)
        t0 = time.perf_counter()
        for i, a in enumerate(actions[20:]):
            t = time.perf_counter()
            _, _, term, trunc, _ = env.step(a)
            lat[i] = time.perf_counter() - t
            if term or trunc:
                env.reset()
        return steps / (time.perf_counter() - t0), float(np.median(lat) * 1e3)
    finally:
        torch.set_num_threads(before)


def time_vector(
    env_id: str, num_envs: int, model: str, device: str = "cpu", seconds: float = 5.0, flow_steps: int = 1
) -> float:
    """Env steps/s of the native vector env with ``num_envs`` environments over ``seconds``."""
    venv = gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        model=model,
        device=device,
        flow_steps=flow_steps,
    )
    venv.reset(seed=0)
    actions = smooth_actions(venv.action_space.shape, 64)
    for a in actions[:8]:
        venv.step(a)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        venv.step(actions[steps % 64])
        steps += 1
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    rate = steps * num_envs / (time.perf_counter() - t0)
    venv.close()
    return rate


def compare(
    env_id: str,
    model: str = "default",
    device: str = "cpu",
    sizes: tuple[int, ...] = (1, 16, 256),
    single_steps: int = 1000,
    seconds: float = 5.0,
    single_threads: int = 1,
    repeats: int = 1,
    baseline: str | None = None,
) -> list[dict]:
    """Twin single process vs learned single env vs learned vector env sizes on one machine.

    ``repeats`` rounds each time every backend once, in turn, so a drift in the machine's speed hits
    all of them alike; a row holds the median over rounds (``steps_per_s``, ``step_latency_ms``,
    ``x_twin`` = the median of the per-round ratios) and the range of its steps/s. With ``baseline`` (a
    second model) each round also times that model's single env and vector envs right after this one's,
    and this model's rows get ``x_baseline``: the median per-round ratio of their steps/s to the baseline's
    same backend (the paired comparison; this VM's speed drifts by up to 1.6x between minutes).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    models = [model] if baseline is None else [model, baseline]
    twin = gym.make(env_id.replace("-v0", "-MuJoCo-v0"))
    singles = [gym.make(env_id, model=m, device=device, uncertainty_samples=0) for m in models]
    # (name, num_envs, model index): the twin has none; each model's backends follow each other in a round
    backends: list[tuple[str, int, int | None]] = [("mujoco twin", 1, None)]
    backends += [("learned single env", 1, k) for k in range(len(models))]
    backends += [("learned vector env", n, k) for n in sizes for k in range(len(models))]
    rates: list[list[float]] = [[] for _ in backends]
    latencies: list[list[float]] = [[] for _ in backends]
    for _ in range(repeats):
        for i, (name, n, k) in enumerate(backends):
            if k is None or name == "learned single env":  # these also give a per-step latency
                env = twin if k is None else singles[k]
                rate, ms = time_single(env, single_steps, None if k is None else single_threads)
                latencies[i].append(ms)
            else:
                rate = time_vector(env_id, n, models[k], device, seconds)
            rates[i].append(rate)
    twin.close()
    for env in singles:
        env.close()
    twin_rates = np.array(rates[0])
    rows = []
    for i, (name, n, k) in enumerate(backends):
        r = np.array(rates[i])
        row = {
            "backend": name,
            "num_envs": n,
            "model": None if k is None else models[k],
            "steps_per_s": float(np.median(r)),
            "steps_per_s_min": float(r.min()),
            "steps_per_s_max": float(r.max()),
            "step_latency_ms": float(np.median(latencies[i])) if latencies[i] else None,
            "x_twin": float(np.median(r / twin_rates)),
            "repeats": repeats,
        }
        if baseline is not None and k == 0:
            row["x_baseline"] = float(np.median(r / np.array(rates[i + 1])))
        rows.append(row)
    return rows
