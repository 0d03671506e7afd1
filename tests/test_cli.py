"""The ``train`` and ``rl`` options are generated from ``TrainConfig`` / ``RLConfig``: every field is an option
with the field's default, ``--help`` shows the defaults, bad values get argparse's error; task choices come
from the task registry."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from cosmos3_gym.cli import build_parser, main
from cosmos3_gym.rl.config import RLConfig
from cosmos3_gym.rl.options import add_config_args, config_from_args, flag
from cosmos3_gym.tasks import TASKS
from cosmos3_gym.training.trainer import TrainConfig

#: Subcommand of each config and the arguments it requires besides the config's own.
COMMANDS = {TrainConfig: ["train", "--data", "d", "--out", "o"], RLConfig: ["rl"]}
CASES = [pytest.param(cls, f, id=f"{cls.__name__}.{f.name}") for cls in COMMANDS for f in dataclasses.fields(cls)]


def _parse(cls: type, *extra: str) -> argparse.Namespace:
    return build_parser().parse_args([*COMMANDS[cls], *extra])


def _other_value(f: dataclasses.Field) -> tuple[list[str], object]:
    """Command-line arguments that set field ``f`` to a value other than its default, and that value."""
    if "choices" in f.metadata:
        value = next(c for c in f.metadata["choices"] if c != f.default)
        return [flag(f), value], value
    if f.default is True or f.default is False:
        name = flag(f)
        return ([name.replace("--", "--no-", 1)] if f.default else [name]), not f.default
    if "float" in str(f.type):
        value = (f.default or 0.0) + 0.25
        return [flag(f), str(value)], value
    if "int" in str(f.type):
        value = (f.default or 0) + 3
        return [flag(f), str(value)], value
    return [flag(f), "something-else"], "something-else"


@pytest.mark.parametrize("cls", COMMANDS)
def test_parsed_defaults_are_the_dataclass_defaults(cls):
    # No CLI default differs from its field's default today; an exception would be listed here.
    assert config_from_args(cls, _parse(cls)) == cls()


@pytest.mark.parametrize(("cls", "f"), CASES)
def test_every_field_is_an_option(cls, f):
    argv, value = _other_value(f)
    cfg = config_from_args(cls, _parse(cls, *argv))
    assert getattr(cfg, f.name) == value
    assert cfg == dataclasses.replace(cls(), **{f.name: value})  # and no other field moved


def test_flags_that_differ_from_the_field_name_are_kept(monkeypatch, tmp_path):
    args = _parse(RLConfig, "--env", "Cosmos3-UR5e-Push-v0", "--no-progress")
    assert (args.env_id, args.progress) == ("Cosmos3-UR5e-Push-v0", False)
    # The shipped checkpoint's recipe calls the CLI: every one of its commands still parses.
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import reproduce_default as rd

    recipe = argparse.Namespace(data=tmp_path, out=tmp_path / "ckpt", scale=1.0, steps=4000)
    recipe.__dict__.update(size="small", batch_size=128, device="cpu")
    commands = [c[c.index("cosmos3-gym") + 1 :] for _, cmds in rd.plan(recipe) for c in cmds]
    assert {c[0] for c in commands} == {"collect", "train", "rl", "calibrate-id"}
    for command in commands:
        build_parser().parse_args(command)


@pytest.mark.parametrize("cls", COMMANDS)
def test_help_shows_every_default(cls, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: help text is not wrapped
    with pytest.raises(SystemExit) as exc:
        main([COMMANDS[cls][0], "--help"])
    assert exc.value.code == 0
    # An option whose invocation is long has its help on the next line: join the two.
    text = re.sub(r"\n {10,}", " ", capsys.readouterr().out)
    for f in dataclasses.fields(cls):
        line = next(ln for ln in text.splitlines() if re.match(rf"\s+{re.escape(flag(f))}[ ,]", ln))
        assert line.endswith(f"(default: {f.default})"), line


def _bad_values(cls: type) -> list[tuple[str, str]]:
    out = []
    for f in dataclasses.fields(cls):
        if "choices" in f.metadata:
            out.append((flag(f), "no-such-choice"))
        elif "int" in str(f.type) or "float" in str(f.type):
            out.append((flag(f), "abc"))
    return out


@pytest.mark.parametrize(("cls", "option", "value"), [(c, *bad) for c in COMMANDS for bad in _bad_values(c)])
def test_bad_values_give_argparse_error(cls, option, value, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*COMMANDS[cls], option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(rf"cosmos3-gym {COMMANDS[cls][0]}: error: argument {option}: invalid .*", err), err


@pytest.mark.parametrize("command", [["demo"], ["collect", "--embodiment", "franka"]])
def test_task_choices_come_from_the_registry(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--task", "juggle"])
    assert exc.value.code == 2
    assert f"choose from {', '.join(repr(t) for t in TASKS)}" in capsys.readouterr().err


def test_fields_without_help_or_with_unsupported_types_are_refused():
    @dataclasses.dataclass
    class NoHelp:
        x: int = 1

    @dataclasses.dataclass
    class ListField:
        xs: list = dataclasses.field(default_factory=list, metadata={"help": "numbers"})

    for cls, match in ((NoHelp, "no 'help'"), (ListField, "no command-line option for type")):
        with pytest.raises(TypeError, match=match):
            add_config_args(argparse.ArgumentParser(), cls)


def test_train_refuses_unreadable_data_and_checkpoints_in_one_line(tmp_path):
    from cosmos3_gym.cli import main as cli_main

    with pytest.raises(SystemExit, match=r"cosmos3-gym train: .*no such dataset folder"):
        cli_main(["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "a"), "--steps", "1"])
    data = tmp_path / "data"
    collect = ["collect", "--embodiment", "franka", "--task", "lift", "--episodes", "1", "--policy", "expert"]
    assert cli_main([*collect, "--out", str(data), "--max-steps", "5"]) == 0
    with pytest.raises(SystemExit, match=r"cosmos3-gym train: .*not a checkpoint"):
        cli_main(["train", "--data", str(data), "--out", str(tmp_path / "b"), "--init-from", str(tmp_path / "none")])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
