"""Validation harness: an oracle "model" gives exactly zero error, a perturbed one does not; every learned id
validates through the CLI on a tiny budget; bad arguments fail before any rollout."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cosmos3_gym
from cosmos3_gym.cli import main
from cosmos3_gym.registration import learned_ids
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.validation import api
from cosmos3_gym.validation.backends import BiasedBackend, MujocoBackend
from cosmos3_gym.validation.idcheck import chunk_index, inverse_dynamics_check, recorded_raw
from cosmos3_gym.validation.metrics import QUANTITIES, calibration, correlations, rankdata
from cosmos3_gym.validation.rollouts import make_starts, rollout
from cosmos3_gym.validation.scenarios import SCENARIOS

#: The 15 Robot × Task ids (the bare ids are aliases of Lift).
TASK_IDS = [i for i in learned_ids() if i.count("-") == 3]
BIAS_M = 0.005


def oracle(embodiment: str, task: str):
    return lambda n: MujocoBackend(embodiment, task, n, name="oracle")


def all_errors(report: dict, mode: str) -> list[float]:
    return [s[k] for q in QUANTITIES for s in report[mode]["errors"][q].values() for k in ("median", "p90", "max")]


@pytest.mark.parametrize(
    ("env_id", "policy"), [("Cosmos3-Franka-Lift-v0", "expert"), ("Cosmos3-Agibot-Push-v0", "noisy-expert:0.6")]
)
def test_oracle_model_has_exactly_zero_error(env_id, policy):
    emb, task = env_id.split("-")[1].lower(), env_id.split("-")[2].lower()
    r = cosmos3_gym.validate(
        env_id,
        oracle(emb, task),
        policy,
        episodes=2,
        horizon=17,
        ranking_policies=("expert", "noisy-expert:1.0", "random-smooth"),
        ranking_episodes=1,
        scenarios=("nominal", "cube-outside-box", "abrupt-reversal"),
        scenario_episodes=1,
    )
    for mode in ("open_loop", "closed_loop"):
        assert set(r[mode]["errors"]["tcp_pos_mm"]) == {"1", "4", "16", "end"}
        assert all(e == 0.0 for e in all_errors(r, mode)), mode
        assert r[mode]["outcome"]["success_agreement"] == 1.0 and r[mode]["outcome"]["return_gap"] == 0.0
    for row in r["ranking"]["policies"]:
        assert row["return_model"] == row["return_mujoco"]
    for row in r["scenarios"]["rows"]:
        assert all(row["errors"][q]["max"] == 0.0 for q in QUANTITIES), row["scenario"]
    assert "skipped" in r["calibration"] and "skipped" in r["inverse_dynamics"]  # the oracle has neither


def test_perturbed_model_shows_its_bias():
    """Oracle + 5 mm on TCP and cube: exactly that error on those quantities, nothing elsewhere."""
    bias = {"tcp_pos": [0.0, BIAS_M, 0.0], "cube_pos": [BIAS_M, 0.0, 0.0]}
    r = cosmos3_gym.validate(
        "Cosmos3-UR5e-Lift-v0",
        lambda n: BiasedBackend(MujocoBackend("ur5e", "lift", n), bias, MujocoTwinEnv("ur5e", "lift").task),
        "random-smooth",
        episodes=2,
        horizon=8,
        ranking_policies=(),
        scenarios=("nominal",),
    )
    for q in ("tcp_pos_mm", "cube_pos_mm"):
        for h, s in r["open_loop"]["errors"][q].items():
            assert s["median"] > 0.99 * BIAS_M * 1000, (q, h)  # threshold: 4.95 mm
            assert s["max"] == pytest.approx(BIAS_M * 1000, abs=1e-9)
    assert r["open_loop"]["errors"]["joint_pos_rad"]["end"]["max"] == 0.0


def test_tiny_model_error_is_far_above_zero(tiny_model):
    r = cosmos3_gym.validate(
        "Cosmos3-Franka-Push-v0",
        tiny_model,
        "random-smooth",
        episodes=3,
        horizon=17,
        ranking_policies=(),
        scenarios=("nominal",),
    )
    # The tiny model trains for seconds: its TCP error after 4 steps is centimetres; 1 mm is a loose floor.
    assert r["open_loop"]["errors"]["tcp_pos_mm"]["4"]["median"] > 1.0
    assert r["calibration"]["steps"] == 3 * 17 and len(r["calibration"]["quintiles"]) == 5
    assert r["inverse_dynamics"]["chunks"] == 3 and r["inverse_dynamics"]["tcp_error_mm"]["median"] > 1.0


def test_inverse_dynamics_check_exact_oracle_and_zero_actions():
    env = MujocoTwinEnv("widowx", "lift")
    truth = MujocoBackend("widowx", "lift", 2)
    from cosmos3_gym.sim.policies import RandomSmooth

    traj = rollout(truth, make_starts(env, [3, 4]), 16, policy=lambda s: RandomSmooth(7, s))
    idx = chunk_index(traj.length, 16)

    def exact(states, goals):
        return np.stack(
            [
                recorded_raw(
                    env,
                    traj.states[i, t : t + 16],
                    traj.actions[i, t : t + 16],
                )
                for i, t in idx
            ]
        )

    res = inverse_dynamics_check(env, traj, exact)
    assert res["chunks"] == 2 and res["tcp_error_mm"]["max"] < 1e-3
    still = np.stack([recorded_raw(env, traj.states[i, t : t + 16], np.zeros((16, 7))) for i, t in idx])
    res0 = inverse_dynamics_check(env, traj, lambda s, g: still)  # "stand still": the path is missed
    assert res0["tcp_error_mm"]["median"] > 0.5 * res0["tcp_motion_mm_median"] > 1.0


def test_cli_writes_the_full_report(tiny_model, tmp_path, capsys):
    out = tmp_path / "val"
    rc = main(
        [
            "validate",
            "--env",
            "Cosmos3-Franka-Lift-v0",
            "--model",
            tiny_model,
            "--policy",
            "expert",
            "--episodes",
            "2",
            "--horizon",
            "5",
            "--out",
            str(out),
            "--ranking-episodes",
            "1",
            "--scenario-episodes",
            "1",
            "--video-episodes",
            "1",
            "--no-progress",
        ]
    )
    assert rc == 0 and "open loop" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    for name in report["files"].values():
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert {"video", "error_vs_horizon", "traces", "ranking_plot", "calibration_plot", "scenarios"} <= set(
        report["files"]
    )
    md = (out / "report.md").read_text()
    assert "(episodes.mp4)" in md and "cube-outside-box" in md and "Spearman" in md
    assert "no episode lasted a full chunk" in md  # 5 steps < one 16-step chunk: said, not hidden
    assert [r["scenario"] for r in report["scenarios"]["rows"]] == list(SCENARIOS)
    assert len(report["ranking"]["policies"]) == 5


@pytest.mark.parametrize("env_id", TASK_IDS)
def test_every_learned_id_validates(tiny_model, tmp_path, capsys, env_id):
    rc = main(
        [
            "validate",
            "--env",
            env_id,
            "--model",
            tiny_model,
            "--episodes",
            "1",
            "--horizon",
            "4",
            "--out",
            str(tmp_path),
            "--ranking-policies",
            "expert",
            "random-smooth",
            "--scenarios",
            "nominal",
            "cube-outside-box",
            "--video-episodes",
            "0",
            "--no-plots",
            "--no-id",
            "--json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["env_id"] == env_id and (tmp_path / "report.md").is_file()
    assert report["open_loop"]["errors"]["tcp_pos_mm"]["4"]["n"] == 1


# -- bad arguments: clear errors before any rollout ----------------------------------------------------
@pytest.fixture()
def no_rollouts(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a rollout started before the arguments were checked")

    monkeypatch.setattr(api, "paired_run", boom)
    monkeypatch.setattr(api, "make_starts", boom)


@pytest.fixture(scope="module")
def sb3_zips(tmp_path_factory):
    from stable_baselines3 import PPO

    out = tmp_path_factory.mktemp("sb3")
    paths = {}
    for emb in ("franka", "agibot"):
        PPO("MultiInputPolicy", MujocoTwinEnv(emb, "lift"), n_steps=8, batch_size=8, device="cpu").save(out / emb)
        paths[emb] = str(out / f"{emb}.zip")
    return paths


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"env": "Cosmos3-Spot-Lift-v0"}, "unknown env id 'Cosmos3-Spot-Lift-v0'.*learned ids: Cosmos3-Agibot"),
        ({"env": "Cosmos3-Franka-Lift-MuJoCo-v0"}, "MuJoCo twin id; give the learned id Cosmos3-Franka-Lift-v0"),
        ({"model": "/nonexistent/ckpt"}, "model '/nonexistent/ckpt'.*not a checkpoint"),
        ({"env": "Cosmos3-Franka-Reach-v0", "horizon": 51}, "horizon 51 is longer than.*max_episode_steps=50"),
        ({"policy": "greedy"}, "unknown policy 'greedy'; allowed: expert"),
        ({"policy": "noisy-expert:lots"}, "SIGMA must be a number"),
        ({"policy": "/nonexistent/agent.zip"}, "no such file"),
        ({"episodes": 0}, "episodes must be an integer >= 1"),
        ({"scenarios": ("nominal", "zero-g")}, r"unknown scenario\(s\) \['zero-g'\]"),
    ],
)
def test_bad_arguments_fail_before_rollouts(tiny_model, no_rollouts, kwargs, match):
    args = {"env": "Cosmos3-Franka-Lift-v0", "model": tiny_model, **kwargs}
    with pytest.raises(api.ValidationArgumentError, match=match):
        cosmos3_gym.validate(**args)


def test_sb3_policy_spaces_are_checked(tiny_model, sb3_zips, no_rollouts, capsys):
    with pytest.raises(api.ValidationArgumentError, match=r"spaces do not fit franka/lift.*action Box\(14,\)"):
        cosmos3_gym.validate("Cosmos3-Franka-Lift-v0", tiny_model, sb3_zips["agibot"])
    rc = main(["validate", "--env", "Cosmos3-Franka-Lift-v0", "--model", tiny_model, "--policy", sb3_zips["agibot"]])
    assert rc == 2 and "cosmos3-gym validate: error: policy '" in capsys.readouterr().err


def test_sb3_policy_with_matching_spaces_runs(tiny_model, sb3_zips):
    r = cosmos3_gym.validate(
        "Cosmos3-Franka-Lift-v0",
        tiny_model,
        sb3_zips["franka"],
        episodes=1,
        horizon=3,
        ranking_policies=(),
        scenarios=(),
    )
    assert r["policy"] == "franka.zip" and r["closed_loop"]["outcome"]["episodes"] == 1


# -- pieces --------------------------------------------------------------------------------------------
def test_statistics():
    x = np.array([3.0, 1.0, 2.0, 2.0, 5.0])
    from scipy.stats import rankdata as scipy_rankdata

    np.testing.assert_array_equal(rankdata(x), scipy_rankdata(x))
    assert correlations(x, 2 * x + 1)["pearson"] == pytest.approx(1.0)
    assert correlations(x, -x)["spearman"] == pytest.approx(-1.0)
    assert correlations(x, np.ones(5))["pearson"] is None  # constant: undefined, not NaN
    u = np.linspace(0.001, 0.1, 50).reshape(5, 10)
    cal = calibration(u, 2 * u, np.full(5, 10))
    assert cal["spearman"] == pytest.approx(1.0)
    med = [q["error_median_mm"] for q in cal["quintiles"]]
    assert med == sorted(med) and sum(q["n"] for q in cal["quintiles"]) == 50


def test_scenarios_change_only_what_they_say():
    env = MujocoTwinEnv("franka", "lift")
    ws = env.emb.spec.workspace
    for start in make_starts(env, range(6), SCENARIOS["cube-outside-box"].perturb_start):
        cube = env.layout.get(start.obs["observation"], "cube_pos")
        assert np.any((cube[:2] < np.array(ws.cube_low) - 0.02) | (cube[:2] > np.array(ws.cube_high) + 0.02))
        np.testing.assert_allclose(start.obs["desired_goal"][:2], cube[:2])  # the Lift goal follows the cube
    heavy = MujocoBackend("franka", "lift", 1, SCENARIOS["heavy-cube"].edit_model)
    slip = MujocoBackend("franka", "lift", 1, SCENARIOS["slippery-cube"].edit_model)
    body = env.model.body("cube").id
    assert heavy.envs[0].model.body_mass[body] == pytest.approx(4 * env.model.body_mass[body])
    geom = env.model.geom("cube_geom").id
    assert slip.envs[0].model.geom_friction[geom, 0] == pytest.approx(0.25 * env.model.geom_friction[geom, 0])
    assert env.model.body_mass[body] == MujocoTwinEnv("franka", "lift").model.body_mass[body]  # others untouched


def test_heavy_cube_physics_stays_stable():
    """A grasped 4x heavier cube blew MuJoCo up until the edit recomputed the model's derived constants."""
    from cosmos3_gym.sim.policies import policy_from_spec

    truth = MujocoBackend("ur5e", "lift", 1, SCENARIOS["heavy-cube"].edit_model)
    traj = rollout(truth, make_starts(truth.envs[0], [100_000]), 20, policy=policy_from_spec("expert", truth.envs[0]))
    cube = truth.layout.get(traj.states, "cube_pos")
    assert np.all(np.isfinite(cube)) and np.abs(cube).max() < 1.0 and traj.final_success().all()


def test_wall_time_includes_writing_the_report(tmp_path, monkeypatch):
    """The report's wall_s covers the whole run, the plots, video and files included (it left them out)."""
    import time

    from cosmos3_gym.validation import report as report_mod

    slow = report_mod.write_tables

    def write_tables(*args, **kwargs):
        time.sleep(1.0)  # stands in for the plots and the video, which took as long as the rollouts
        return slow(*args, **kwargs)

    monkeypatch.setattr(report_mod, "write_tables", write_tables)
    t0 = time.perf_counter()
    r = cosmos3_gym.validate(
        "Cosmos3-UR5e-Lift-v0",
        oracle("ur5e", "lift"),
        episodes=1,
        horizon=4,
        out=tmp_path,
        ranking_policies=(),
        scenarios=(),
        video_episodes=0,
        plots=False,
    )
    elapsed = time.perf_counter() - t0
    # wall_s is the run's time rounded to 10 ms, so it can't exceed elapsed rounded the same way; without
    # the writing it was elapsed - 1 s or less
    assert elapsed - 0.5 <= r["wall_s"] <= round(elapsed, 2)
    assert json.loads((tmp_path / "report.json").read_text())["wall_s"] == r["wall_s"]


def test_a_horizon_too_short_for_success_is_flagged():
    """Lift in 8 steps: no policy can succeed, so the success ranking and agreement say nothing."""
    with pytest.warns(api.metrics.HorizonWarning, match="success ranking is meaningless"):
        r = cosmos3_gym.validate(
            "Cosmos3-Franka-Lift-v0",
            oracle("franka", "lift"),
            episodes=1,
            horizon=8,
            ranking_policies=("expert", "random-smooth"),
            ranking_episodes=1,
            scenarios=(),
        )
    assert any("--horizon 8 is short" in w for w in r["warnings"])
    enough = cosmos3_gym.validate(
        "Cosmos3-Franka-Reach-v0", oracle("franka", "reach"), "expert", episodes=1, ranking_policies=(), scenarios=()
    )
    assert enough["closed_loop"]["outcome"]["success_mujoco"] == 1 and not enough["warnings"]
