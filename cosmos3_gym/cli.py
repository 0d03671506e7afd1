"""``cosmos3-gym`` command line: one subcommand per stage of the data flow."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from cosmos3_gym.embodiment import list_embodiments, load_embodiment


def _embodiments(args: argparse.Namespace) -> int:
    rows = []
    for name in list_embodiments():
        emb = load_embodiment(name)
        rows.append({"name": name, "domain_name": emb.domain_name, "domain_id": emb.domain_id,
                     "raw_action_dim": emb.raw_action_dim, "native_action_dim": emb.native_action_dim,
                     "fps": emb.fps, "chunk_size": emb.chunk_size, "dof": emb.dof,
                     "pose_blocks": list(emb.contract.pose_names), "description": emb.spec.description})
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
    p.add_argument("--embodiment", default="franka", help="embodiment name (default: franka)")
    p.add_argument("--task", default="lift", choices=("reach", "push", "lift"))
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
    from cosmos3_gym.model.config import PRESETS
    from cosmos3_gym.training.trainer import TrainConfig

    d = TrainConfig()
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="datasets written by 'collect'")
    p.add_argument("--out", required=True, metavar="CKPT", help="checkpoint folder to write (or resume)")
    p.add_argument("--size", default=d.size, choices=sorted(PRESETS), help=f"model size preset (default {d.size})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"optimizer steps (default {d.steps})")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="cpu, cuda, cuda:0, ...")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--json", action="store_true", help="print the training summary as JSON")


def _train(args: argparse.Namespace) -> int:
    import torch

    from cosmos3_gym.training.trainer import TrainConfig, train
    from cosmos3_gym.training.windows import episodes_from_datasets

    if args.steps < 1 or args.batch_size < 1:
        raise SystemExit("--steps and --batch-size must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    episodes = episodes_from_datasets(args.data)
    cfg = TrainConfig(size=args.size, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      val_every=args.val_every, seed=args.seed, device=args.device)
    out = train(episodes, args.out, cfg, resume=args.resume, meta={"data": [str(d) for d in args.data]})
    summary = json.loads((out / "train_summary.json").read_text())
    print(json.dumps(summary, indent=2) if args.json else f"wrote {out} ({summary['final']})")
    return 0


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "embodiments": ("list the shipped embodiments and their Cosmos3 domains",
                    lambda p: p.add_argument("--json", action="store_true", help="machine-readable output"),
                    _embodiments),
    "train": ("train the world model on collected datasets", _train_args, _train),
    "demo": ("one episode in the learned simulator beside the MuJoCo twin: table, video, plot", _demo_args, _demo),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cosmos3-gym", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cosmos3-gym`` console script."""
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command][2](args)


if __name__ == "__main__":
    sys.exit(main())
