"""What a new user meets on the CLI: one-line errors (no traceback unless --debug), nothing half-written,
nothing overwritten without --resume or --overwrite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from cosmos3_gym.cli import COMMANDS, build_parser
from cosmos3_gym.cli import main as cli_main
from cosmos3_gym.model.checkpoint import default_checkpoint_path

ROOT = Path(__file__).resolve().parents[1]
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def run_cli(argv: list[str]) -> str:
    """Run the CLI in-process; an error must end it with a non-zero code and a message, not an exception.
    Returns the message (stderr, or the SystemExit text)."""
    try:
        rc = cli_main(argv)
    except SystemExit as exc:  # argparse and some commands exit with their message
        assert exc.code not in (0, None), argv
        return str(exc.code)
    assert rc != 0, argv
    return ""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("cli_errors") / "data"
    argv = ["collect", "--embodiment", "franka", "--task", "lift", "--episodes", "2", "--policy", "expert"]
    assert cli_main([*argv, "--out", str(out), "--max-steps", "20"]) == 0
    return str(out)


def _options(command: str) -> set[str]:
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    return {s for a in sub._actions for s in a.option_strings}


@no_cuda
def test_device_cuda_without_cuda_is_one_line_and_writes_nothing(tmp_path, dataset, capsys):
    """Every command with --device (discovered from the parser) and gym.make."""
    out = tmp_path / "out"
    required = {
        "train": ["--data", dataset, "--out", str(out), "--steps", "1"],
        "validate": ["--env", "Cosmos3-Franka-Lift-v0", "--episodes", "1", "--out", str(out)],
        "rl": ["--env", "Cosmos3-Franka-Reach-v0", "--steps", "8", "--out", str(out)],
        "bench": ["--num-envs", "1", "--seconds", "0.1"],
    }
    commands = [c for c in COMMANDS if "--device" in _options(c)]
    assert set(commands) <= set(required), "give the new command's required arguments here"
    for command in commands:
        message = run_cli([command, *required[command], "--device", "cuda"]) + capsys.readouterr().err
        assert "CUDA is not available" in message and "Traceback" not in message, command
        assert not out.exists(), f"{command} left {out}"
    with pytest.raises(ValueError, match="CUDA is not available"):
        gym.make("Cosmos3-Franka-Lift-v0", device="cuda")


def test_bad_embodiment_names_the_allowed_ones_and_case_does_not_matter(capsys):
    message = run_cli(["demo", "--embodiment", "panda"]) + capsys.readouterr().err
    assert "allowed: agibot, franka, umi, ur5e, widowx" in message and "Traceback" not in message
    assert build_parser().parse_args(["demo", "--embodiment", "Franka"]).embodiment == "franka"


def test_bench_num_envs_zero_and_a_corrupted_checkpoint_through_demo(tmp_path, capsys):
    assert "--num-envs must be >= 1" in run_cli(["bench", "--num-envs", "0"]) + capsys.readouterr().err
    bad = tmp_path / "ckpt"
    shutil.copytree(default_checkpoint_path(), bad)
    with (bad / "model.safetensors").open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00" * 64)
    out = tmp_path / "demo"
    message = run_cli(["demo", "--model", str(bad), "--out", str(out), "--no-video"]) + capsys.readouterr().err
    assert "corrupted or replaced weights" in message and not out.exists()
    with pytest.raises(ValueError, match="num-envs"):  # --debug: the traceback, for a bug report
        cli_main(["--debug", "bench", "--num-envs", "0"])


def test_embodiments_json_into_a_closed_pipe_is_quiet():
    """`cosmos3-gym embodiments --json | head`: the reader leaves before the writer writes."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cosmos3_gym.cli", "embodiments", "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # before the child has imported anything: its first write meets a closed pipe
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()


def test_train_refuses_to_overwrite_and_resume_refuses_contradictions(tiny_model, dataset, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_model, ckpt)
    weights = (ckpt / "model.safetensors").read_bytes()
    base = ["train", "--data", dataset, "--out", str(ckpt), "--batch-size", "4", "--val-windows", "4"]
    assert "--resume" in run_cli([*base, "--steps", "1"]) + capsys.readouterr().err
    assert "size='small' (it has 'tiny')" in run_cli([*base, "--resume", "--size", "small", "--steps", "41"])
    assert (ckpt / "model.safetensors").read_bytes() == weights  # refused before anything is written
    # Without the contradicting option the resume continues, and records the size it really has.
    assert cli_main([*base, "--resume", "--steps", "41", "--val-every", "41", "--policy-batch", "0"]) == 0
    assert json.loads((ckpt / "config.json").read_text())["meta"]["train_config"]["size"] == "tiny"
    assert cli_main([*base, "--overwrite", "--size", "tiny", "--steps", "1", "--policy-batch", "0"]) == 0


def test_rl_refuses_to_overwrite_a_run(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "final_model.zip").write_text("an earlier run's agent")
    argv = ["rl", "--env", "Cosmos3-Franka-Reach-MuJoCo-v0", "--steps", "8", "--num-envs", "1", "--out", str(out)]
    argv += ["--eval-every", "0", "--eval-episodes", "1", "--no-progress"]
    assert "--overwrite" in run_cli(argv) + capsys.readouterr().err
    assert (out / "final_model.zip").read_text() == "an earlier run's agent"
    assert cli_main([*argv, "--overwrite", "--json"]) == 0
    assert json.loads((out / "config.json").read_text())["steps"] == 8
