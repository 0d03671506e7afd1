"""``cosmos3-gym rl``: train an SB3 agent inside the world model, evaluate it on the MuJoCo twin."""

from __future__ import annotations

import argparse
import json

from cosmos3_gym.envs.registry import add_embodiment_option
from cosmos3_gym.rl import options
from cosmos3_gym.rl.config import RLConfig


def add_args(p: argparse.ArgumentParser) -> None:
    """The ``rl`` subcommand's arguments: one per :class:`RLConfig` field, plus how to run it."""
    options.add_config_args(p, RLConfig)
    add_embodiment_option(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in DIR/checkpoints")
    mode.add_argument("--overwrite", action="store_true", help="delete the run in DIR first")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: SB3's small MLPs and the batched model gain little from "
        "more, and on shared cores extra threads slow torch down many times over)",
    )
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")


def config_from_args(args: argparse.Namespace) -> RLConfig:
    """Build and validate the :class:`RLConfig` of parsed arguments."""
    return options.config_from_args(RLConfig, args).check()


def run(args: argparse.Namespace) -> int:
    """Entry of ``cosmos3-gym rl``: train, then print the summary (table or JSON)."""
    import torch

    from cosmos3_gym.rl.train import train_agent

    try:
        cfg = config_from_args(args)
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
    except ValueError as exc:
        raise SystemExit(f"cosmos3-gym rl: {exc}") from None
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        summary = train_agent(cfg, resume=args.resume, overwrite=args.overwrite)
    except (ValueError, FileExistsError) as exc:  # e.g. --resume into a folder of another run
        raise SystemExit(f"cosmos3-gym rl: {exc}") from None
    finally:
        torch.set_num_threads(threads)  # main() may run inside another program (tests, notebooks)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    ev = summary["final_eval"]
    print(
        f"{summary['algo']} in {summary['env_id']} ({summary['trained_in']}): {summary['num_timesteps']} steps, "
        f"{summary['env_steps_per_s']} env steps/s, wall {summary['wall_s']} s"
    )
    print(f"  MuJoCo twin   success {ev['twin_success_rate']:.2f}  return {ev['twin_mean_return']:.2f}")
    if "learned_success_rate" in ev:
        print(f"  learned sim   success {ev['learned_success_rate']:.2f}  return {ev['learned_mean_return']:.2f}")
    print(f"  agent: {summary['final_model']}")
    return 0
