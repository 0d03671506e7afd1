"""``cosmos3-gym rl``: train an SB3 agent inside the world model, evaluate it on the MuJoCo twin."""

from __future__ import annotations

import argparse
import json

from cosmos3_gym.rl.config import ALGOS, RLConfig

HELP = "train an RL agent (SB3) inside the learned simulator and evaluate it on the MuJoCo twin"


def add_args(p: argparse.ArgumentParser) -> None:
    """The ``rl`` subcommand's arguments (defaults from :class:`RLConfig`)."""
    d = RLConfig()
    p.add_argument(
        "--env",
        default=d.env_id,
        help="learned id to train in (e.g. Cosmos3-Franka-Reach-v0); a "
        f"...-MuJoCo-v0 id trains in the twin instead (default {d.env_id})",
    )
    p.add_argument("--algo", default=d.algo, choices=ALGOS)
    p.add_argument("--steps", type=int, default=d.steps, help=f"env steps, summed over envs (default {d.steps})")
    p.add_argument("--num-envs", type=int, default=d.num_envs, help=f"parallel envs (default {d.num_envs})")
    p.add_argument("--out", default=d.out, metavar="DIR", help="run folder: checkpoints/, eval.csv, final_model.zip")
    p.add_argument("--model", default=d.model, metavar="CKPT", help="world-model checkpoint (default: shipped)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="env steps between evaluations (0 = end only)")
    p.add_argument("--eval-episodes", type=int, default=d.eval_episodes, help="episodes per evaluation and env")
    p.add_argument("--eval-seed", type=int, default=d.eval_seed, help="first evaluation seed (then +1, +2, ...)")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=d.checkpoint_every,
        help="env steps between checkpoints (0 = --eval-every)",
    )
    p.add_argument("--device", default=d.device, help="torch device of the agent and the world model")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in DIR/checkpoints")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: SB3's small MLPs and the batched model gain little from "
        "more, and on shared cores extra threads slow torch down many times over)",
    )
    g = p.add_argument_group("model-exploitation guards (learned ids only; see cosmos3_gym/rl/README.md)")
    g.add_argument(
        "--uncertainty-penalty",
        type=float,
        default=0.0,
        metavar="L",
        help="reward -= L * model_uncertainty (m); turns on 2 uncertainty samples",
    )
    g.add_argument(
        "--uncertainty-samples",
        type=int,
        default=0,
        metavar="N",
        help="stochastic samples for the uncertainty estimate (>= 2 when L or U is set)",
    )
    g.add_argument(
        "--max-uncertainty",
        type=float,
        default=None,
        metavar="U",
        help="truncate an episode when model_uncertainty exceeds U (m)",
    )
    g.add_argument(
        "--ood-sigma",
        type=float,
        default=None,
        metavar="K",
        help="truncate when a state channel leaves the training data by more than K std",
    )
    g.add_argument(
        "--imagination-horizon",
        type=int,
        default=None,
        metavar="H",
        help="model episodes of H steps from fresh twin start states (MBPO-style short rollouts)",
    )
    g.add_argument(
        "--reanchor-every",
        type=int,
        default=None,
        metavar="N",
        help="every N env steps, move all model envs to states of twin rollouts of the current policy",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")


def config_from_args(args: argparse.Namespace) -> RLConfig:
    """Build and validate the :class:`RLConfig` of parsed arguments."""
    return RLConfig(
        env_id=args.env,
        algo=args.algo,
        steps=args.steps,
        num_envs=args.num_envs,
        out=args.out,
        model=args.model,
        seed=args.seed,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        eval_seed=args.eval_seed,
        checkpoint_every=args.checkpoint_every,
        device=args.device,
        uncertainty_penalty=args.uncertainty_penalty,
        uncertainty_samples=args.uncertainty_samples,
        max_uncertainty=args.max_uncertainty,
        ood_sigma=args.ood_sigma,
        imagination_horizon=args.imagination_horizon,
        reanchor_every=args.reanchor_every,
        progress=not args.no_progress,
    ).check()


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
        summary = train_agent(cfg, resume=args.resume)
    except ValueError as exc:  # e.g. --resume into a folder of another run
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
