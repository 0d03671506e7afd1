"""CUDA-path checks and GPU figures, for a machine with a GPU (results: ``results/gpu/``).

1. the learned env on CUDA against the CPU one: same seed, same 64 actions, largest state difference;
2. training on CUDA (small preset, batch 128 as in the shipped recipe): steps/s over 400 steady steps,
   and the CUDA-trained checkpoint loads on the CPU;
3. PPO inside the model with agent and world model on CUDA (Franka Reach, the transfer table's budget).

    OUT=benchmarks/results/gpu python benchmarks/gpu_checks.py
    python benchmarks/throughput.py --env Cosmos3-Franka-Lift-v0 --device cuda --seconds 4 \
        --out benchmarks/results/gpu/franka_cuda.csv
"""

import json
import os
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import cosmos3_gym  # noqa: F401
from cosmos3_gym.bench import smooth_actions
from cosmos3_gym.cli import main as cli
from cosmos3_gym.model import load_checkpoint
from cosmos3_gym.training.episodes import episodes_from_twin
from cosmos3_gym.training.trainer import TrainConfig, train

OUT = os.environ.get("OUT", str(Path(__file__).resolve().parent / "results" / "gpu"))


def cuda_vs_cpu(res: dict) -> None:
    """1) Same seed, same actions: the learned env on CUDA tracks the CPU one (float32 rounding only)."""
    acts = smooth_actions((7,), 64, seed=3)
    traj = {}
    for dev in ("cpu", "cuda"):
        env = gym.make("Cosmos3-Franka-Lift-v0", device=dev)
        obs, _ = env.reset(seed=0)
        states = [obs["observation"]]
        for a in acts:
            obs, *_ = env.step(a)
            states.append(obs["observation"])
        traj[dev] = np.array(states)
    diff = np.abs(traj["cpu"] - traj["cuda"])
    res["cpu_vs_cuda_max_abs_state_diff"] = float(diff.max())
    res["cpu_vs_cuda_tcp_mm_at_64"] = float(1e3 * np.linalg.norm(traj["cpu"][-1, :3] - traj["cuda"][-1, :3]))


def cuda_training(res: dict) -> None:
    """2) Training on CUDA (small preset, the shipped recipe's batch 128), the result loaded on the CPU."""
    eps = [e for name in ("franka", "umi") for e in episodes_from_twin(name, "lift", 8, 60)]
    for steps in (20, 420):  # the first run pays CUDA start-up; the difference times 400 steady steps
        t0 = time.perf_counter()
        cfg = TrainConfig(size="small", steps=steps, batch_size=128, val_every=10_000, val_fraction=0.0, device="cuda")
        path = train(eps, f"/tmp/gpu_train_{steps}", cfg, progress=False, overwrite=True)
        res[f"train_{steps}_s"] = round(time.perf_counter() - t0, 2)
    res["train_steps_per_s_cuda_small_b128"] = round(400 / (res["train_420_s"] - res["train_20_s"]), 1)
    res["cuda_trained_checkpoint_loads_on_cpu"] = load_checkpoint(path, "cpu").model.cfg.residual_prior


def cuda_rl(res: dict) -> None:
    """3) RL inside the model with agent and world model on CUDA (Franka Reach, the transfer table's budget)."""
    cli(
        [
            "rl", "--env", "Cosmos3-Franka-Reach-v0", "--algo", "ppo", "--steps", "60000", "--num-envs", "8",
            "--device", "cuda", "--eval-episodes", "100", "--out", "/tmp/rl_cuda", "--overwrite", "--no-progress",
        ]
    )  # fmt: skip
    summary = json.loads(Path("/tmp/rl_cuda/summary.json").read_text())
    res["rl_cuda"] = {k: summary[k] for k in ("train_wall_s", "env_steps_per_s", "final_eval", "num_timesteps")}


def main() -> None:
    res = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    for check in (cuda_vs_cpu, cuda_training, cuda_rl):
        check(res)
        print(json.dumps(res), flush=True)
    Path(OUT, "gpu_checks.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
