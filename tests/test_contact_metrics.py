"""The contact and held-out-action suite: an oracle agrees perfectly, a model that ignores contact is caught,
seed splits refuse what they do not know, held-out action families stay in the box and repeat per seed."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cosmos3_gym
from cosmos3_gym.cli import main
from cosmos3_gym.sim.policies import check_policy, make_policy, policy_from_spec, policy_kinds
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tasks import TRAIN_SEED_LIMIT, get_task, rl_seeds, seed_split, split_seeds
from cosmos3_gym.validation.api import ValidationArgumentError
from cosmos3_gym.validation.backends import FrozenCubeBackend, MujocoBackend
from cosmos3_gym.validation.contact import contact_events
from cosmos3_gym.validation.families import FAMILIES, make_family, motion_channels
from cosmos3_gym.validation.suite import pooled_families, validate_suite


def oracle(embodiment: str, task: str):
    return lambda n: MujocoBackend(embodiment, task, n, name="oracle")


def frozen_cube(embodiment: str, task: str):
    return lambda n: FrozenCubeBackend(MujocoBackend(embodiment, task, n), get_task(task))


def all_stats(tree: object) -> list[dict]:
    """Every ``{median, p90, n}`` cell in a nested report."""
    if isinstance(tree, dict):
        if "median" in tree and "n" in tree:
            return [tree]
        return [c for v in tree.values() for c in all_stats(v)]
    if isinstance(tree, list):
        return [c for v in tree for c in all_stats(v)]
    return []


# -- seed splits --------------------------------------------------------------------------------------------
def test_split_seeds_are_disjoint_from_training_and_each_other():
    assert split_seeds("select", 3) == [200_000, 200_001, 200_002]
    assert split_seeds("report", 2, offset=5) == [300_005, 300_006]
    assert rl_seeds("select", 2) == [100, 101] and rl_seeds("report", 1, 99) == [1099]
    select, report = set(split_seeds("select", 100_000)), set(split_seeds("report", 100_000))
    assert not select & report and min(select | report) >= TRAIN_SEED_LIMIT
    assert [seed_split(s) for s in (0, 99_999, 150_000, 200_000, 399_999)] == [
        "train",
        "train",
        "unassigned",
        "select",
        "report",
    ]


@pytest.mark.parametrize("call", [lambda: split_seeds("test", 1), lambda: rl_seeds("validation", 1)])
def test_unknown_split_is_refused(call):
    with pytest.raises(ValueError, match=r"unknown split .*; allowed: select, report"):
        call()


def test_split_seeds_refuse_to_run_past_the_range():
    with pytest.raises(ValueError, match="do not fit"):
        split_seeds("select", 2, offset=99_999)
    with pytest.raises(ValueError, match="do not fit"):
        rl_seeds("report", 101)


# -- held-out action families ------------------------------------------------------------------------------
def _actions(kind: str, env: MujocoTwinEnv, seed: int, steps: int = 40) -> np.ndarray:
    obs, _ = env.reset(seed=seed)
    policy = make_family(kind, env, seed)
    policy.reset(obs)
    out = []
    for _ in range(steps):
        a = policy(obs)
        out.append(a)
        obs, *_ = env.step(a)
    return np.array(out)


@pytest.mark.parametrize("embodiment", ["franka", "agibot"])
@pytest.mark.parametrize("kind", FAMILIES)
def test_families_stay_in_the_box_and_repeat_per_seed(kind, embodiment):
    env = MujocoTwinEnv(embodiment, "lift")
    a = _actions(kind, env, 7)
    assert a.dtype == np.float32 and a.shape == (40, env.action_space.shape[0])
    assert np.all(np.abs(a) <= 1.0)
    np.testing.assert_array_equal(a, _actions(kind, env, 7))
    assert not np.array_equal(a, _actions(kind, env, 8))


def test_reversals_saturate_and_flip_every_3_to_10_steps():
    a = _actions("reversals", MujocoTwinEnv("ur5e", "push"), 3, steps=200)
    assert np.all(np.abs(a) == 1.0)
    for ch in a.T:
        flips = np.flatnonzero(np.diff(ch) != 0) + 1
        runs = np.diff(flips)  # whole segments between two flips
        assert len(flips) > 10 and runs.min() >= 3 and runs.max() <= 10


def test_biased_expert_is_the_expert_plus_a_constant_bias():
    env = MujocoTwinEnv("franka", "reach")
    obs, _ = env.reset(seed=1)
    policy, expert = make_family("biased-expert", env, 1), make_policy("expert", env, 1)
    policy.reset(obs)
    expert.reset(obs)
    bias = policy(obs).astype(np.float64) - expert(obs)
    motion = motion_channels(env.action_space.shape[0])
    assert np.all((np.abs(policy.bias[motion]) >= 0.3) & (np.abs(policy.bias[motion]) <= 0.5))
    assert bias[6] == 0.0
    free = np.abs(expert(obs)[motion] + policy.bias[motion]) < 1  # not clipped
    np.testing.assert_allclose(bias[motion][free], policy.bias[motion][free], atol=1e-6)


def test_families_are_held_out_of_collection_but_validate_names_them():
    env = MujocoTwinEnv("widowx", "push")
    for kind in FAMILIES:
        assert kind in policy_kinds("validate") and kind not in policy_kinds("collect")
        with pytest.raises(ValueError, match="is not for collect"):
            check_policy(kind, "collect")
        assert callable(policy_from_spec(kind, env))


# -- contact events ------------------------------------------------------------------------------------------
def test_contact_events_on_a_scripted_trajectory():
    lay = MujocoTwinEnv("franka", "lift").layout
    states = np.zeros((41, lay.size))
    cube = states[:, lay.parts["cube_pos"]]
    cube[:, 2] = 0.02
    cube[10:, 0] = np.arange(31) * 0.0009  # creeps 0.9 mm/step from step 11 (> 2 mm from rest at 13)
    cube[20:, 2] += np.arange(21) * 0.002  # lifts 2 mm/step from step 21 (> 5 mm at 23)
    width = states[:, lay.parts["gripper_width"]]
    width[:] = 0.04
    width[32:, 0] += np.arange(9) * 0.003  # opens from step 33 while the cube is up
    assert contact_events(lay, states, 40, "lift") == [("first-move", 13), ("lift-off", 23), ("release", 33)]
    assert ("push-onset", 11) not in contact_events(lay, states, 40, "push")  # 1 mm/step is not sliding
    cube[10:, 0] = np.arange(31) * 0.002  # slides 2 mm/step from step 11
    assert ("push-onset", 11) in contact_events(lay, states, 40, "push")


# -- the suite: oracle and contact-blind model -------------------------------------------------------------
@pytest.mark.parametrize("task", ["push", "lift"])
def test_oracle_agrees_perfectly_on_every_new_metric(task):
    r = validate_suite("franka", task, oracle("franka", task), "select", contact_episodes=3, family_episodes=1)
    ea, c = r["expert_agreement"], r["contact"]
    assert ea["success_agreement"] == 1.0 and c["open_loop_success"]["success_agreement"] == 1.0
    assert c["contact_windows"]["windows"] >= 3
    assert {"first-move", "push-onset" if task == "push" else "lift-off"} <= set(c["contact_windows"]["events"])
    cells = all_stats(r)
    assert len(cells) > 40 and all(s["median"] == 0.0 and s["p90"] == 0.0 for s in cells if s["n"])
    assert all(v == 0.0 for f in r["action_families"]["families"].values() for v in f["values"]["tcp_pos_mm"]["16"])
    assert pooled_families([r["action_families"]])["reversals"]["64"]["median"] == 0.0


def test_a_model_that_ignores_contact_is_caught():
    r = validate_suite("franka", "lift", frozen_cube("franka", "lift"), "select", contact_episodes=3, family_episodes=0)
    c = r["contact"]["contact_windows"]
    assert c["overall"]["cube_pos_mm"]["16"]["median"] > 20.0
    assert c["events"]["lift-off"]["cube_pos_mm"]["16"]["median"] > 20.0
    assert c["overall"]["cube_pos_mm"]["1"]["median"] < 2.0  # windows start before contact: error comes later
    for outcome in (r["expert_agreement"], r["contact"]["open_loop_success"]):
        assert outcome["success_mujoco"] == 1.0 and outcome["success_model"] == 0.0
        assert outcome["success_agreement"] == 0.0


# -- validate: report section and argument checks -----------------------------------------------------------
def test_validate_reports_the_suite_on_the_chosen_split(tmp_path):
    r = cosmos3_gym.validate(
        "Cosmos3-UMI-Push-v0",
        oracle("umi", "push"),
        "expert",
        episodes=1,
        horizon=4,
        out=tmp_path,
        ranking_policies=(),
        scenarios=("nominal",),
        video_episodes=0,
        plots=False,
        split="report",
        contact_episodes=2,
        family_episodes=1,
    )
    assert r["suite"]["split"] == "report" and r["suite"]["expert_agreement"]["seeds"] == [300_000, 300_001]
    assert set(r["suite"]) == {"split", "expert_agreement", "contact", "action_families"}
    assert json.loads((tmp_path / "report.json").read_text())["suite"]["contact"]["contact_windows"]["windows"] >= 1
    md = (tmp_path / "report.md").read_text()
    assert "## Contact and held-out actions" in md and "Seed split `report`" in md and "reversals" in md


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"split": "test"}, "unknown split"), ({"contact_episodes": -1}, "contact_episodes must be an integer >= 0")],
)
def test_validate_refuses_bad_suite_arguments(kwargs, match):
    with pytest.raises(ValidationArgumentError, match=match):
        cosmos3_gym.validate("Cosmos3-Franka-Lift-v0", oracle("franka", "lift"), **kwargs)


def test_cli_split_choices(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--env", "Cosmos3-Franka-Lift-v0", "--split", "test"])
    assert exc.value.code == 2 and "invalid choice: 'test'" in capsys.readouterr().err


def test_calibration_separates_growth_along_a_rollout_from_ranking_episodes():
    from cosmos3_gym.validation import metrics

    rng = np.random.default_rng(0)
    n, t = 30, 20
    scale = rng.uniform(0.5, 2.0, (n, 1))  # some episodes are worse than others at every step
    error = scale * np.arange(1, t + 1)[None] * 1e-3
    length = np.full(n, t)
    knows_episodes = metrics.calibration(scale * np.ones((1, t)), error, length)
    knows_time = metrics.calibration(np.broadcast_to(np.arange(1.0, t + 1), (n, t)).copy(), error, length)
    assert knows_episodes["spearman_within_step"] == pytest.approx(1.0)
    assert knows_time["spearman"] > 0.5 and knows_time["spearman_within_step"] is None  # constant at each step
