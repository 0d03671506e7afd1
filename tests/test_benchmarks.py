"""The committed benchmark scripts run end to end on a tiny model and write readable results."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def bench_main(monkeypatch):
    """``bench_main(module, *argv)``: run ``benchmarks/<module>.py``'s ``main()`` with that command line."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def run(module: str, *argv: str) -> None:
        monkeypatch.setattr(sys, "argv", [f"{module}.py", *argv])
        __import__(module).main()

    return run


def test_rl_transfer_rows_guards_and_merge(bench_main, tiny_model, tmp_path):
    common = ("--model", tiny_model, "--steps", "256", "--num-envs", "2", "--eval-episodes", "2", "--no-progress")
    bench_main("rl_transfer", *common, "--rows", "franka-reach", "--out", str(tmp_path / "a"))
    bench_main("rl_transfer", *common, "--rows", "umi-reach", "--ood-sigma", "50", "--out", str(tmp_path / "b"))
    bench_main("rl_transfer", "--merge", str(tmp_path / "b"), str(tmp_path / "a"), "--out", str(tmp_path / "m"))
    report = json.loads((tmp_path / "m" / "rl_transfer.json").read_text())
    assert [r["row"] for r in report["rows"]] == ["franka-reach", "umi-reach"]  # table order, not run order
    assert [r["model_guards"] for r in report["rows"]] == ["none", "ood_sigma=50.0"]
    for r in report["rows"]:
        assert 0 <= r["model_twin_success"] <= 1 and 0 <= r["twin_twin_success"] <= 1
        assert r["model_steps_per_s"] > 0 and r["twin_steps_per_s"] > 0
    assert report["weights_sha256"] and report["hyperparameters"]["policy_kwargs"]["features_extractor_class"]
    with (tmp_path / "m" / "rl_transfer.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 2
    assert "umi-reach" in (tmp_path / "m" / "rl_transfer.md").read_text()


def test_rl_transfer_equal_wall_clock_curves_and_sharded_twins(bench_main, tiny_model, tmp_path):
    """--time-limit stops both sides by training wall-clock, --eval-every draws the row's curve, the twin side
    runs in worker processes, the seeds come from the chosen split, and both sides can start from a clone."""
    bench_main(
        "rl_transfer",
        *("--model", tiny_model, "--rows", "franka-lift", "--num-envs", "64", "--steps", "10000000"),
        *("--time-limit", "3", "--eval-every", "3200", "--eval-episodes", "2", "--vec", "shards"),
        *("--split", "select", "--bc-episodes", "1", "--no-progress", "--out", str(tmp_path)),
    )
    report = json.loads((tmp_path / "rl_transfer.json").read_text())
    (row,) = report["rows"]
    assert report["seed"] == 100 and report["eval_seeds"] == [200_000, 200_001] and report["time_limit_s"] == 3
    assert row["model_steps"] < 10_000_000 and row["twin_steps"] < 10_000_000
    assert report["hyperparameters"]["gamma"] == 0.8  # 64 envs: the massively parallel PPO recipe
    assert (tmp_path / "curves" / "franka-lift.png").stat().st_size > 1000
    for side in ("model", "twin"):
        summary = json.loads((tmp_path / "runs" / "franka-lift" / side / "summary.json").read_text())
        assert summary["stopped_by_time_limit"] and summary["bc_episodes"] == 1 and summary["bc_s"] > 0


def test_rl_transfer_rows_as_ray_tasks_equal_serial_rows(bench_main, tiny_model, tmp_path):
    pytest.importorskip("ray", reason="the extra 'distributed' (Ray) is not installed")
    common = ("--model", tiny_model, "--steps", "128", "--num-envs", "2", "--eval-episodes", "2", "--no-progress")
    rows = ("--rows", "franka-reach,umi-reach")
    bench_main("rl_transfer", *common, *rows, "--out", str(tmp_path / "serial"))
    bench_main("rl_transfer", *common, *rows, "--workers", "2", "--out", str(tmp_path / "ray"))
    serial, fanned = (json.loads((tmp_path / d / "rl_transfer.json").read_text())["rows"] for d in ("serial", "ray"))
    outcome = [k for k in serial[0] if "success" in k or "return" in k]
    assert outcome and [r["row"] for r in fanned] == ["franka-reach", "umi-reach"]
    assert [[r[k] for k in outcome] for r in fanned] == [[r[k] for k in outcome] for r in serial]


def test_default_recipe_plan_is_consistent(monkeypatch, tmp_path):
    """The shipped checkpoint's recipe: every round's agents train in the model trained just before them,
    the final model sees every dataset, and no two datasets share an episode seed (all below the
    benchmarks' held-out 10 000)."""
    import argparse
    import shlex

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import reproduce_default as rd

    args = argparse.Namespace(data=tmp_path / "data", out=tmp_path / "ckpt", scale=1.0, steps=4000)
    args.__dict__.update(size="small", batch_size=128, device="cpu")
    stages = rd.plan(args)
    names = [name for name, _ in stages]
    assert names[0] == "collect MIX" and names[-2:] == ["train final model", "calibrate"]
    collects = [c for name, cmds in stages if name.startswith("collect") for c in cmds]
    seeds = []
    for c in collects:
        first, n = int(c[c.index("--seed") + 1]), int(c[c.index("--episodes") + 1])
        seeds += range(first, first + n)
    assert len(seeds) == len(set(seeds)) and max(seeds) < 10_000
    final_data = stages[-2][1][0]
    assert set(final_data[final_data.index("--data") + 1 : final_data.index("--out")]) == {c[-1] for c in collects}
    for i, (name, cmds) in enumerate(stages):
        if name.startswith("agents"):
            trained = stages[i - 1][1][0]
            assert stages[i - 1][0].startswith("train")
            model = trained[trained.index("--out") + 1]
            assert all(c[c.index("--model") + 1] == model for c in cmds), shlex.join(cmds[0])


def test_agent_gap_reports_both_sides(bench_main, tiny_model, tmp_path):
    from stable_baselines3 import PPO

    from cosmos3_gym.sim.twin_env import MujocoTwinEnv

    agent = tmp_path / "agent"
    PPO("MultiInputPolicy", MujocoTwinEnv("franka", "reach"), n_steps=8, batch_size=8, device="cpu").save(agent)
    out = tmp_path / "gap.json"
    env = "Cosmos3-Franka-Reach-v0"
    bench_main(
        "agent_gap",
        "--agent",
        f"{agent}.zip",
        "--env",
        env,
        "--model",
        tiny_model,
        "--seeds",
        "7",
        "9",
        "--out",
        str(out),
    )
    report = json.loads(out.read_text())
    assert [r["seed"] for r in report["rows"]] == [7, 8]
    for r in report["rows"]:
        for side in ("mujoco", "model"):
            assert r[side]["final_distance_m"] >= 0 and len(r[side]["tail_mean_abs_action"]) == 7
    assert report["rows"][0]["mujoco"] != report["rows"][0]["model"]  # a tiny model is far from physics


def test_throughput_reports_median_and_range_over_rounds(bench_main, tiny_model, tmp_path):
    out = tmp_path / "t.csv"
    argv = ("--model", tiny_model, "--num-envs", "2", "--single-steps", "30", "--seconds", "0.1", "--repeats", "3")
    bench_main("throughput", *argv, "--out", str(out))
    report = json.loads(out.with_suffix(".json").read_text())
    assert [(r["backend"], r["num_envs"]) for r in report["rows"]] == [
        ("mujoco twin", 1),
        ("learned single env", 1),
        ("learned vector env", 2),
    ]
    for r in report["rows"]:
        assert r["repeats"] == 3 and 0 < r["steps_per_s_min"] <= r["steps_per_s"] <= r["steps_per_s_max"]
    assert report["rows"][0]["x_twin"] == 1.0
    from cosmos3_gym.bench import compare

    rows = compare("Cosmos3-Franka-Lift-v0", tiny_model, "cpu", (2,), 30, 0.1, repeats=2, baseline=tiny_model)
    assert [(r["backend"], r["num_envs"], "x_baseline" in r) for r in rows] == [
        ("mujoco twin", 1, False),
        ("learned single env", 1, True),  # the model's rows, each right before the baseline's
        ("learned single env", 1, False),
        ("learned vector env", 2, True),
        ("learned vector env", 2, False),
    ]
    assert all(r["x_baseline"] > 0 and r["step_latency_ms"] > 0 for r in rows[1:2])
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        compare("Cosmos3-Franka-Lift-v0", tiny_model, repeats=0)


@pytest.mark.parametrize("env", ["Cosmos3-AgiBot-Lift-v0", "Cosmos3-Franka-Lift-MuJoCo-v0"])
def test_throughput_names_the_learned_ids_for_an_unknown_env(bench_main, capsys, tmp_path, env):
    out = tmp_path / "t.csv"
    with pytest.raises(SystemExit) as exc:
        bench_main("throughput", "--env", env, "--out", str(out))
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exc.value.code == 2 and f"unknown env id {env!r}" in err and "Cosmos3-Agibot-Lift-v0" in err
    assert not out.exists()


def test_bench_cli_prints_rows(tiny_model, capsys):
    from cosmos3_gym.cli import main as cli

    argv = ["bench", "--model", tiny_model, "--num-envs", "2", "--seconds", "0.1", "--repeats", "2", "--json"]
    assert cli(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["num_envs"] for r in rows] == [1, 1, 2] and all(r["repeats"] == 2 for r in rows)


def test_fidelity_suite_sections_need_a_split_and_write_tables(bench_main, tiny_model, tmp_path):
    with pytest.raises(SystemExit):
        bench_main("fidelity", "--model", tiny_model, "--sections", "expert")  # no --split: refused
    out = tmp_path / "v2.json"
    common = ("--model", tiny_model, "--split", "select", "--embodiments", "franka", "--tasks", "reach", "lift")
    sizes = ("--expert-episodes", "1", "--contact-episodes", "2", "--family-episodes", "1")
    bench_main("fidelity", *common, *sizes, "--sections", "expert", "contact", "families", "--suite-out", str(out))
    report = json.loads(out.read_text())
    assert report["split"] == "select" and report["weights_sha256"] and report["hardware"]["cpu"]
    assert [(r["embodiment"], r["task"]) for r in report["expert"]] == [("franka", "reach"), ("franka", "lift")]
    assert [r["task"] for r in report["contact"]] == ["lift"]  # contact rows: Push and Lift only
    assert set(report["families"][0]["families"]) == {"noisy-expert", "reversals", "biased-expert", "slow-sine"}
    md = out.with_suffix(".md").read_text()
    assert "Closed-loop expert agreement" in md and "Open-loop success agreement" in md and "slow-sine" in md


def test_v2_recipe_plan_uses_training_seeds_only_and_every_dataset(bench_main, capsys, tmp_path):
    """The v12 recipe collects on training seeds (< 100000, disjoint from v10's scripted ones), trains on
    every dataset it collects, from the base, with the v2 flags, then calibrates the result."""
    from cosmos3_gym.tasks import split_seeds

    bench_main("reproduce_v2", "--base", "BASE", "--data", str(tmp_path), "--out", str(tmp_path / "v12"), "--dry-run")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("cosmos3-gym")]
    collects = [line.split() for line in lines if " collect " in line]
    (train,) = [line.split() for line in lines if " train " in line]
    seeds = []
    for c in collects:
        first, n = int(c[c.index("--seed") + 1]), int(c[c.index("--episodes") + 1])
        seeds += range(first, first + n)
    assert len(seeds) == len(set(seeds)) and max(seeds) < min(split_seeds("select", 1))
    outs = {c[c.index("--out") + 1] for c in collects}
    assert outs == set(train[train.index("--data") + 1 : train.index("--out")])
    assert {"--task-blind", "--object-prior"} <= set(train) and train[train.index("--init-from") + 1] == "BASE"
    assert any(" calibrate-id " in line and str(tmp_path / "v12") in line for line in lines)
    (fd,) = [line.split() for line in lines if " calibrate-fd " in line]
    assert "--fingers" in fd and "--cube-motion" not in fd and "servo+table" in fd  # the shipped model's priors


def test_short_recipe_plan_is_a_tiny_model_on_training_seeds(bench_main, capsys, tmp_path):
    """The short recipe collects on training seeds, trains a tiny model from nothing on all of it, then fits
    the contact gates on the same data and calibrates the result."""
    from cosmos3_gym.tasks import split_seeds

    bench_main("reproduce_short", "--data", str(tmp_path), "--out", str(tmp_path / "m"), "--dry-run")
    lines = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("cosmos3-gym")]
    collects = [c for c in lines if c[1] == "collect"]
    (train,) = [c for c in lines if c[1] == "train"]
    (gates,) = [c for c in lines if c[1] == "calibrate-contact"]
    seeds = [
        s
        for c in collects
        for s in range(int(c[c.index("--seed") + 1]), int(c[c.index("--seed") + 1]) + int(c[c.index("--episodes") + 1]))
    ]
    assert len(seeds) == len(set(seeds)) and max(seeds) < min(split_seeds("select", 1))
    outs = [c[c.index("--out") + 1] for c in collects]
    assert outs == train[train.index("--data") + 1 : train.index("--out")] == gates[gates.index("--data") + 1 :]
    assert train[train.index("--size") + 1] == "tiny" and "--init-from" not in train
    assert any(c[1] == "calibrate-id" for c in lines)


def test_rl_seeds_summarizes_every_seed_and_resumes(bench_main, tiny_model, tmp_path):
    """One rl_transfer run per seed, a per-row summary of both sides, and a finished seed is not rerun."""
    argv = ("--seeds", "1000", "1001", "--out", str(tmp_path), "--", "--model", tiny_model, "--rows", "umi-reach")
    argv += ("--steps", "256", "--num-envs", "2", "--eval-episodes", "2", "--split", "report", "--no-progress")
    bench_main("rl_seeds", *argv)
    summary = json.loads((tmp_path / "summary.json").read_text())
    row = summary["rows"]["umi-reach"]
    assert row["seeds"] == [1000, 1001] and len(row["model"]) == len(row["twin"]) == 2
    assert row["model_mean"] == pytest.approx(sum(row["model"]) / 2, abs=1e-3)
    first = (tmp_path / "seed1000" / "rl_transfer.json").stat().st_mtime_ns
    bench_main("rl_seeds", *argv)
    assert (tmp_path / "seed1000" / "rl_transfer.json").stat().st_mtime_ns == first
    with pytest.raises(SystemExit, match="sets --seed"):
        bench_main("rl_seeds", "--seeds", "1000", "--out", str(tmp_path), "--", "--seed", "3")


def test_table_floor_probe_stays_above_the_priors_floors(bench_main, tmp_path):
    """What the twins allow is what the floor prior must allow: no TCP below TCP_FLOOR_M, no deeper sink."""
    from cosmos3_gym.model.prior import CUBE_SINK, TCP_FLOOR_M

    bench_main("table_floor", "--episodes", "1", "--out", str(tmp_path / "floor.json"))
    result = json.loads((tmp_path / "floor.json").read_text())
    assert result["tcp_min_above_table_mm"] >= 1000 * TCP_FLOOR_M
    assert result["cube_max_sink_half_sizes"] <= CUBE_SINK
    assert set(result["rows"]) == {p.stem for p in (BENCHMARKS.parent / "embodiments").glob("*.yaml")}


def test_policy_mode_rows_resume_and_dynamics_identity(bench_main, tiny_model, tmp_path, capsys):
    args = ("--model", tiny_model, "--split", "select", "--episodes", "1", "--embodiments", "widowx")
    run = (*args, "--tasks", "reach", "--samples", "4", "--out", str(tmp_path))
    bench_main("policy_mode", *run, "--dynamics-base", tiny_model, "--identity-episodes", "1")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [(r["kind"], r["task"]) for r in summary["rows"]] == [("planner", "reach"), ("policy-head", "reach")]
    for r in summary["rows"]:
        assert 0 <= r["success"] <= 1 and r["episodes"] == 1 and r["decision_ms_per_step"] > 0
        assert r["success"] == sum(r["wins"]) / len(r["wins"])
        assert r["settings"]["seeds"] == [200_000, 200_000] and r["hardware"]
    identity = json.loads((tmp_path / "dynamics_identity.json").read_text())
    assert identity["max_abs_difference"] == {"forward_dynamics": 0.0, "inverse_dynamics": 0.0}
    capsys.readouterr()
    bench_main("policy_mode", *run)  # every row is done: nothing reruns
    assert "planner widowx reach" not in capsys.readouterr().out
