"""``cosmos3-gym`` command line: one subcommand per stage of the data flow."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence

from cosmos3_gym.embodiment import list_embodiments
from cosmos3_gym.envs.registry import EMBODIMENT_HELP, add_embodiment_option, embodiment_arg
from cosmos3_gym.tasks import TASKS
from cosmos3_gym.tokens import load_embodiment

DATA_ROBOT_HELP = "a robot YAML whose datasets --data holds (repeatable; those on the search path need none)"


def _embodiments_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("embodiment", nargs="*", type=embodiment_arg, help=f"{EMBODIMENT_HELP} (default: every known one)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _embodiments(args: argparse.Namespace) -> int:
    rows = []
    for name in args.embodiment or list_embodiments():
        emb = load_embodiment(name)
        keys = ("domain_name", "domain_id", "raw_action_dim", "native_action_dim", "fps", "chunk_size", "dof")
        row = {"name": name, **{k: getattr(emb, k) for k in keys}, "pose_blocks": list(emb.contract.pose_names)}
        rows.append({**row, "description": emb.spec.description})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = ("name", "domain_name", "domain_id", "raw_action_dim", "native_action_dim", "fps", "chunk_size", "dof")
    heads = ("embodiment", "cosmos3 domain", "id", "raw dim", "action dim", "fps", "chunk", "DoF")
    widths = [max(len(h), *(len(str(r[c])) for r in rows)) for h, c in zip(heads, cols, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths, strict=True)))
    return 0


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--embodiment", default="franka", type=embodiment_arg, help=f"{EMBODIMENT_HELP} (default: franka)")
    p.add_argument("--task", default="lift", choices=tuple(TASKS))
    p.add_argument("--model", default="default", help="checkpoint folder (default: the shipped model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="demo_out", help="folder for demo.mp4, demo.png, demo.json")
    p.add_argument("--no-video", action="store_true", help="skip rendering the side-by-side video")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _demo(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from cosmos3_gym.demo import format_table, run_demo

    result = run_demo(args.embodiment, args.task, args.model, args.seed, args.out, video=not args.no_video)
    print(json.dumps(asdict(result), indent=2) if args.json else format_table(result))
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    from cosmos3_gym.rl.options import add_config_args
    from cosmos3_gym.training.trainer import TrainConfig

    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="datasets written by 'collect'")
    p.add_argument("--out", required=True, metavar="CKPT", help="checkpoint folder to write (or resume)")
    add_embodiment_option(p, DATA_ROBOT_HELP)
    add_config_args(p, TrainConfig)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run in --out (its size and priors)")
    mode.add_argument("--overwrite", action="store_true", help="replace the checkpoint in --out")
    p.add_argument("--json", action="store_true", help="print the training summary as JSON")


def _train(args: argparse.Namespace) -> int:
    import torch

    from cosmos3_gym.data import DatasetError
    from cosmos3_gym.model import CheckpointError
    from cosmos3_gym.rl.options import config_from_args
    from cosmos3_gym.training.episodes import episodes_from_datasets
    from cosmos3_gym.training.trainer import TrainConfig, train

    if args.steps < 1 or args.batch_size < 1 or args.policy_batch < 0:
        raise SystemExit("--steps and --batch-size must be >= 1, --policy-batch >= 0")
    if args.val_every < 1 or args.val_windows < 1 or args.warmup < 0 or not 0 <= args.val_fraction < 1:
        raise SystemExit("--val-every and --val-windows must be >= 1, --warmup >= 0, 0 <= --val-fraction < 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:  # unreadable data or checkpoints (--resume, --init-from) are the user's to fix: one line
        episodes = episodes_from_datasets(args.data)
        cfg = config_from_args(TrainConfig, args)
        meta = {"data": [str(d) for d in args.data]}
        out = train(episodes, args.out, cfg, resume=args.resume, meta=meta, overwrite=args.overwrite, given=args.given)
    except (CheckpointError, DatasetError, FileExistsError, ValueError) as exc:
        raise SystemExit(f"cosmos3-gym train: {exc}") from None
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 alone reports
        return 0
    summary = json.loads((out / "train_summary.json").read_text())
    print(json.dumps(summary, indent=2) if args.json else f"wrote {out} ({summary['final']})")
    return 0


def _collect_args(p: argparse.ArgumentParser) -> None:
    from cosmos3_gym.sim.policies import get_policy_kind, policy_kinds

    p.add_argument("--embodiment", required=True, type=embodiment_arg, help=EMBODIMENT_HELP)
    p.add_argument("--task", required=True, choices=tuple(TASKS))
    p.add_argument("--episodes", type=int, required=True, help="number of episodes to collect (>= 1)")
    kinds = policy_kinds("collect")
    summaries = "; ".join(f"{k}: {get_policy_kind(k).summary}" for k in kinds)
    p.add_argument("--policy", required=True, choices=kinds, help=summaries)
    p.add_argument("--agent", default=None, metavar="PATH.zip", help="the stable-baselines3 agent of --policy agent")
    p.add_argument(
        "--checkpoint", metavar="CKPT", help="the world model of --policy policy-head or planner (default: the shipped)"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="dataset folder (LeRobot v3.0 layout)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="first episode seed, episode i uses seed+i (default 0; when appending, the next unused)",
    )
    p.add_argument("--max-steps", type=int, default=None, help="episode step limit (default: the task's)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run episodes as Ray tasks on N local CPUs (default 1: serial); needs the extra 'distributed'",
    )
    p.add_argument(
        "--address",
        default=None,
        help="join a running Ray cluster (e.g. auto, ray://head:10001; default: $RAY_ADDRESS, else a local Ray)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--append", action="store_true", help="add episodes to the dataset in DIR")
    mode.add_argument("--overwrite", action="store_true", help="delete the dataset in DIR first")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")


def _collect(args: argparse.Namespace) -> int:
    import time

    from cosmos3_gym.data import collect, load_dataset
    from cosmos3_gym.data.fanout import FanoutError
    from cosmos3_gym.data.format import DatasetError

    t0 = time.perf_counter()
    try:
        out = collect(
            args.embodiment,
            args.task,
            args.episodes,
            args.policy,
            args.out,
            seed=args.seed,
            progress=True,
            max_steps=args.max_steps,
            append=args.append,
            overwrite=args.overwrite,
            agent=args.agent,
            policy_options={"checkpoint": args.checkpoint},
            workers=args.workers,
            address=args.address,
        )
    except (ValueError, FileExistsError, DatasetError, FanoutError) as e:
        print(f"cosmos3-gym collect: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: the episodes finished so far are kept in {args.out}", file=sys.stderr)
        return 130
    seconds = time.perf_counter() - t0
    ds = load_dataset(out)
    new = slice(ds.num_episodes - args.episodes, ds.num_episodes)
    ends = ds.episode_start[new] + ds.episode_length[new] - 1
    steps = int(ds.episode_length[new].sum())
    summary = {
        "path": str(out),
        "embodiment": args.embodiment,
        "task": args.task,
        "policy": args.policy,
        "episodes": args.episodes,
        "steps": steps,
        "success_rate": float(ds.success[ends].mean()),
        "total_episodes": ds.num_episodes,
        "total_frames": ds.num_frames,
        "seconds": round(seconds, 3),
        "episodes_per_s": round(args.episodes / seconds, 3),
        "steps_per_s": round(steps / seconds, 1),
    }
    print(
        json.dumps(summary, indent=2)
        if args.json
        else f"wrote {args.episodes} episodes ({steps} steps, success {summary['success_rate']:.0%}) to {out} "
        f"in {seconds:.1f} s; dataset now {ds.num_episodes} episodes / {ds.num_frames} frames"
    )
    return 0


def _remote_check_args(p: argparse.ArgumentParser) -> None:
    from cosmos3_gym.backends.check import add_arguments

    add_arguments(p, embodiment_type=embodiment_arg)


def _remote_check(args: argparse.Namespace) -> int:
    from cosmos3_gym.backends.check import remote_check

    return remote_check(args)


def _rl_args(p: argparse.ArgumentParser) -> None:
    from cosmos3_gym.rl.cli import add_args

    add_args(p)


def _rl(args: argparse.Namespace) -> int:
    from cosmos3_gym.rl.cli import run

    return run(args)


def _validate_args(p: argparse.ArgumentParser) -> None:
    from cosmos3_gym.validation.cli import add_args

    add_args(p)


def _validate(args: argparse.Namespace) -> int:
    from cosmos3_gym.validation.cli import run

    return run(args)


def _calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="checkpoint folder to calibrate in place (its config.json)")
    p.add_argument(
        "--embodiments", nargs="+", type=embodiment_arg, help="default: every embodiment the checkpoint covers"
    )
    p.add_argument("--episodes", type=int, default=10, help="noisy-expert Lift episodes per embodiment")
    p.add_argument("--seed", type=int, default=9000, help="first episode seed (keep it below 10000: held-out)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--json", action="store_true")


def _calibrate(args: argparse.Namespace) -> int:
    import torch

    from cosmos3_gym.validation.calibrate import calibrate_id_gates, format_report

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        report = calibrate_id_gates(args.model, args.embodiments, args.episodes, args.seed, progress=not args.json)
    except ValueError as exc:
        raise SystemExit(f"calibrate-id: {exc}") from exc
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _lazy(module: str, data: bool = False, **extra: object) -> tuple[Callable[..., None], Callable[..., int]]:
    """A command from ``module``'s ``add_arguments(parser, **extra)``/``run(args)``; ``data``: adds ``--embodiment
    YAML``."""

    def args(p: argparse.ArgumentParser) -> None:
        importlib.import_module(module).add_arguments(p, **extra)
        if data:
            add_embodiment_option(p, DATA_ROBOT_HELP)

    def run(a: argparse.Namespace) -> int:
        return int(importlib.import_module(module).run(a))

    return args, run


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default="Cosmos3-Franka-Lift-v0", help="a learned id (its twin is timed too)")
    add_embodiment_option(p)
    p.add_argument("--model", default="default")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num-envs", type=int, nargs="+", default=[1, 16, 256])
    p.add_argument("--seconds", type=float, default=3.0, help="timing window per vector size")
    p.add_argument("--repeats", type=int, default=1, help="interleaved rounds; rows report the median")
    p.add_argument("--json", action="store_true")


def _bench(args: argparse.Namespace) -> int:
    from cosmos3_gym.bench import compare

    if min(args.num_envs) < 1 or args.seconds <= 0 or args.repeats < 1:
        raise ValueError(f"--num-envs must be >= 1 (got {args.num_envs}), --seconds > 0, --repeats >= 1")
    rows = compare(args.env, args.model, args.device, tuple(args.num_envs), 500, args.seconds, repeats=args.repeats)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'backend':<20} {'envs':>5} {'steps/s':>10} {'latency ms':>11} {'x twin':>7}")
    for r in rows:
        lat = "" if r["step_latency_ms"] is None else f"{r['step_latency_ms']:.2f}"
        print(f"{r['backend']:<20} {r['num_envs']:>5} {r['steps_per_s']:>10.0f} {lat:>11} {r['x_twin']:>7.1f}")
    return 0


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "embodiments": ("list the known embodiments and their Cosmos3 domains", _embodiments_args, _embodiments),
    "collect": ("roll out a MuJoCo twin and write a LeRobot v3.0 dataset", _collect_args, _collect),
    "train": ("train the world model on collected datasets", _train_args, _train),
    "calibrate-id": (
        "choose each embodiment's inverse-dynamics residual gate by MuJoCo replay; writes it into the checkpoint",
        _calibrate_args,
        _calibrate,
    ),
    "calibrate-fd": (
        "choose each embodiment's TCP residual gate by MuJoCo replay",
        *_lazy("cosmos3_gym.validation.calibrate_fd"),
    ),
    "calibrate-uncertainty": (
        "fit each embodiment's error head (the env's model_uncertainty) on MuJoCo replays; writes it in",
        *_lazy("cosmos3_gym.validation.uncertainty_head"),
    ),
    "calibrate-contact": (
        "fit each embodiment's contact gate (an untouched cube keeps its pose) on collected data; writes it in",
        *_lazy("cosmos3_gym.training.contact_gate", data=True),
    ),
    "train-policy": (
        "train the policy mode's own weights on DART demonstrations in the twins; dynamics stay bit-identical",
        *_lazy("cosmos3_gym.training.policy_expert", embodiment_type=embodiment_arg),
    ),
    "bench": ("env steps/s of the learned simulator against its MuJoCo twin", _bench_args, _bench),
    "demo": ("one episode in the learned simulator beside the MuJoCo twin: table, video, plot", _demo_args, _demo),
    "rl": ("train an RL agent (SB3) inside the learned simulator, evaluate it on the MuJoCo twin", _rl_args, _rl),
    "validate": (
        "compare the world model with MuJoCo: per-horizon errors, ranking, OOD scenarios, report",
        _validate_args,
        _validate,
    ),
    "remote-check": (
        "one request of each Cosmos3 action mode against a served model (vLLM-Omni)",
        _remote_check_args,
        _remote_check,
    ),
}


DEBUG_HELP = "show the full traceback of an error (default: one line naming what is wrong)"


def build_parser(defaults: bool = True) -> argparse.ArgumentParser:
    """The ``cosmos3-gym`` parser; ``defaults=False`` leaves options the user did not give out of the result."""
    parser = argparse.ArgumentParser(prog="cosmos3-gym", description=__doc__)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_args, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        if not defaults:
            for action in p._actions:
                action.default = argparse.SUPPRESS
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cosmos3-gym`` console script. A user's mistake (a bad argument, a missing file
    or device, a corrupted checkpoint) ends in one line on stderr and exit code 2; ``--debug`` shows the
    traceback instead."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    # The options given on the command line (a resume refuses only settings the user asked for).
    args.given = set(vars(build_parser(defaults=False).parse_args(argv))) - {"command", "debug"}
    try:
        return COMMANDS[args.command][2](args)
    except BrokenPipeError:
        # The reader of stdout left (`cosmos3-gym embodiments --json | head`): stop quietly, as Unix tools
        # do; stdout goes to devnull so that the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, the shell's code for a writer whose reader left
    except (ValueError, OSError) as exc:  # EmbodimentConfigError, CheckpointError, DeviceError, ... are ValueErrors
        if args.debug:
            raise
        print(f"cosmos3-gym {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
