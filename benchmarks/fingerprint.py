"""Behaviour fingerprint of the shipped checkpoint: SHA-256 digests of fixed rollouts of every learned id.

A refactor that claims "no behaviour change" runs this before and after and compares the digests:
equal digests mean bit-identical observations, rewards and flags. Covered per learned id: the single
env with 0 and with 2 uncertainty samples (rollouts of ``--steps`` seeded actions, some outside
``[-1, 1]`` so the clipping path runs); per embodiment × task the native vector env (4 envs, through
an autoreset) and the single env in chunk-action mode; per embodiment the checkpoint's three Cosmos3
modes (``ModeRunner``) on a twin episode. Digests are of float64 bytes, so they are exact, and only
comparable on one machine and library build with the same thread settings (``OMP_NUM_THREADS`` changes
the summation order of the batched matmuls).

    python benchmarks/fingerprint.py --out benchmarks/results/fingerprint.json
    python benchmarks/fingerprint.py --out /tmp/after.json --compare benchmarks/results/fingerprint.json

``--golden tests/data/shipped_rollouts.npz`` also writes the observations of a short rollout of every
learned id, which ``tests/test_shipped_model.py`` compares against (with a float tolerance, so that
it holds on other CPUs); rerun it when a new default checkpoint ships.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hardware import hardware_label

import cosmos3_gym


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes())
    return h.hexdigest()[:16]


def _actions(space: gym.spaces.Box, steps: int, seed: int) -> np.ndarray:
    """Seeded actions in ``[-1.2, 1.2]``: a random walk, so the rollouts move and some clip."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0.0, 0.35, (steps, *space.shape)), axis=0)
    return np.clip(walk, -1.2, 1.2).astype(np.float32)


def single(env_id: str, steps: int, **kwargs: object) -> str:
    env = gym.make(env_id, **kwargs)
    parts = []
    obs, _ = env.reset(seed=7)
    parts.append(obs["observation"])
    for a in _actions(env.action_space, steps, 1):
        obs, r, term, trunc, info = env.step(a)
        parts += [obs["observation"], obs["desired_goal"], [r, term, trunc, info["is_success"]]]
        if "model_uncertainty" in info:
            parts.append([info["model_uncertainty"]])
        if term or trunc:
            obs, _ = env.reset()
            parts.append(obs["observation"])
    env.close()
    return _digest(*parts)


def vector(env_id: str, steps: int) -> str:
    envs = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point", max_episode_steps=steps // 2)
    obs, _ = envs.reset(seed=11)
    parts = [obs["observation"]]
    for a in _actions(envs.action_space, steps, 2):
        obs, r, term, trunc, _ = envs.step(a)
        parts += [obs["observation"], r, term, trunc]
    envs.close()
    return _digest(*parts)


def modes(embodiment: str) -> str:
    from cosmos3_gym.model.checkpoint import load_checkpoint
    from cosmos3_gym.model.inference import ModeRunner
    from cosmos3_gym.sim.policies import make_policy

    env = gym.make(f"Cosmos3-{cosmos3_gym.registration.robot_name(embodiment)}-Lift-MuJoCo-v0")
    pol = make_policy("noisy-expert", env.unwrapped, seed=3)
    obs, _ = env.reset(seed=5)
    pol.reset(obs)
    states = [obs["observation"]]
    for _ in range(16):
        obs, *_ = env.step(pol(obs))
        states.append(obs["observation"])
    env.close()
    runner = ModeRunner(load_checkpoint("default", "cpu"), embodiment)
    s = np.stack(states)[None]
    goal = obs["desired_goal"][None]
    raw = runner.inverse_dynamics(s, goal, "lift")
    fd = runner.forward_dynamics(s[:, :1], raw, goal, "lift")
    pa, ps = runner.policy(s[:, :1], goal, "lift", seed=0)
    return _digest(raw, fd, pa, ps)


def golden(path: Path, steps: int = 12) -> None:
    """Observations ``(steps + 1, S)`` of every learned id from ``reset(seed=7)`` under seeded actions,
    with the shipped weights' SHA-256, as a compressed npz."""
    from cosmos3_gym.model import checkpoint_digest

    arrays = {"weights_sha256": np.array(checkpoint_digest("default"))}
    for env_id in cosmos3_gym.registration.learned_ids():
        env = gym.make(env_id)
        obs, _ = env.reset(seed=7)
        states = [obs["observation"]]
        for a in _actions(env.action_space, steps, 1):
            states.append(env.step(a)[0]["observation"])
        env.close()
        arrays[env_id] = np.stack(states)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=40, help="steps per rollout")
    ap.add_argument("--out", type=Path, required=True, help="JSON to write")
    ap.add_argument("--compare", type=Path, help="an earlier run's JSON: report every digest that differs")
    ap.add_argument("--golden", type=Path, help="also write the shipped-model test's reference rollouts (npz)")
    args = ap.parse_args()
    if args.golden:
        golden(args.golden)
    ids = cosmos3_gym.registration.learned_ids()
    rows: dict[str, str] = {}
    for env_id in ids:
        # Both settings of the uncertainty estimate, named explicitly (2 copies change the batch the
        # model runs at, so the deterministic copy's floats differ from the 0-copy run in the last bits).
        rows[f"single/{env_id}"] = single(env_id, args.steps, uncertainty_samples=0)
        rows[f"single-unc2/{env_id}"] = single(env_id, args.steps, uncertainty_samples=2)
        if env_id.count("-") == 3:  # Cosmos3-<Robot>-<Task>-v0: the bare Lift id shares the stem's classes
            rows[f"vector/{env_id}"] = vector(env_id, args.steps)
            rows[f"chunk/{env_id}"] = single(env_id, 3, chunk_actions=True, uncertainty_samples=2)
        print(env_id, "done", flush=True)
    for emb in cosmos3_gym.list_embodiments():
        rows[f"modes/{emb}"] = modes(emb)
    out = {"hardware": hardware_label(), "steps": args.steps, "digests": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    if args.compare:
        ref = json.loads(args.compare.read_text())["digests"]
        diff = sorted(k for k in ref.keys() | rows.keys() if ref.get(k) != rows.get(k))
        print(f"{len(rows) - len(diff)} equal, {len(diff)} differ" + "".join(f"\n  {k}" for k in diff))
        sys.exit(1 if diff else 0)


if __name__ == "__main__":
    main()
