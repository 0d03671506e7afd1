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


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "embodiments": ("list the shipped embodiments and their Cosmos3 domains",
                    lambda p: p.add_argument("--json", action="store_true", help="machine-readable output"),
                    _embodiments),
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
