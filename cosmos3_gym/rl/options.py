"""Command-line options generated from a config dataclass, so each option has one source of truth: its field.

Each field becomes one option with the field's default and a type read from its annotation (``int``,
``float``, ``str``, ``bool`` as ``--flag/--no-flag``, or ``X | None``). Field ``metadata`` keys:

- ``help`` (required): the option's help; the default is appended to it;
- ``flag``: the option string where it is not ``--field-name`` (e.g. ``--env`` for ``env_id``);
- ``choices``, ``metavar``: passed on to argparse;
- ``group``: title of the argument group the option is listed under.

It lives in ``rl/`` because that is the earliest layer with a command line built from a config
dataclass (the top-level ``cli.py`` uses it for ``train`` too). It imports nothing of the package, so it
can move to an earlier folder as soon as one needs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, TypeVar

C = TypeVar("C")
_TYPES = (bool, int, float, str)


def flag(f: dataclasses.Field) -> str:
    """The option string of a field: ``metadata["flag"]``, else ``--field-name``."""
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def _scalar_type(annotation: Any, where: str) -> type:
    """The option type of an annotation ``X`` or ``X | None`` (``None`` is only reachable as the default)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else annotation
    if annotation not in _TYPES:
        raise TypeError(
            f"{where}: no command-line option for type {annotation!r}; allowed: int, float, str, bool, X | None"
        )
    return annotation


def add_config_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one option per init field of the dataclass ``cls``; the parsed value lands in ``args.<field>``."""
    hints = typing.get_type_hints(cls)  # the annotations are strings (``from __future__ import annotations``)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        where, meta = f"{cls.__name__}.{f.name}", f.metadata
        if "help" not in meta:
            raise TypeError(f"{where}: no 'help' in the field's metadata (it is the option's help)")
        kind = _scalar_type(hints[f.name], where)
        kw: dict[str, Any] = {"dest": f.name, "help": meta["help"]}
        if f.default is not dataclasses.MISSING:
            kw["default"] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            kw["default"] = f.default_factory()
        else:
            kw["required"] = True
        if kind is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = kind
            kw.update({k: meta[k] for k in ("choices", "metavar") if k in meta})
            if "choices" not in kw and "metavar" not in kw:  # named after the flag, not the field (--env ENV)
                kw["metavar"] = flag(f).lstrip("-").replace("-", "_").upper()
        target: argparse.ArgumentParser | argparse._ArgumentGroup = parser
        if "group" in meta:
            if meta["group"] not in groups:
                groups[meta["group"]] = parser.add_argument_group(meta["group"])
            target = groups[meta["group"]]
        action = target.add_argument(flag(f), **kw)
        # BooleanOptionalAction appends the default itself before Python 3.13; never show it twice.
        if "default" in kw and "%(default)" not in action.help:
            action.help += " (default: %(default)s)"


def config_from_args(cls: type[C], args: argparse.Namespace) -> C:
    """The ``cls`` instance of options added by :func:`add_config_args` (not validated here)."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.init})
