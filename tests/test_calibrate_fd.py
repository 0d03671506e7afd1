"""Forward-dynamics TCP gate calibration: chosen by open-loop MuJoCo replay, written into the checkpoint,
honoured by the learned simulator."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from cosmos3_gym.cli import main as cli
from cosmos3_gym.envs.learned_core import LearnedSimCore
from cosmos3_gym.model import Checkpoint, checkpoint_digest, load_checkpoint
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.validation.calibrate_fd import (
    DEFAULT_PRIORS,
    PRIOR_TOL_MM,
    calibrate_tcp_gates,
    choose,
    choose_fingers,
    choose_gate,
    contact_support,
    prior_flags,
    table_depth,
)


@pytest.fixture()
def ckpt(tiny_model, tmp_path):
    """A writable copy of the tiny checkpoint."""
    return str(shutil.copytree(tiny_model, tmp_path / "ckpt"))


def test_calibration_writes_the_best_measured_prior_and_gate_and_keeps_the_weights(ckpt, capsys):
    digest = checkpoint_digest(ckpt)
    report = calibrate_tcp_gates(ckpt, ["widowx"], episodes=1, gates=(0.0, 1.0), progress=True)
    assert "calibrate-fd" in capsys.readouterr().err
    scores = report["widowx"]["scores"]
    assert set(scores) == set(DEFAULT_PRIORS) and all(set(t) == {0.0, 1.0} for t in scores.values())
    cells = [c for t in scores.values() for c in t.values()]
    assert all(c["tcp_mm_at_16"] >= 0 and c["gripper_mm_at_16"] >= 0 and 0 <= c["expert_agreement"] <= 1 for c in cells)
    assert report["widowx"]["finger_servo_score"] is None and not report["widowx"]["finger_servo"]  # not asked for
    assert (report["widowx"]["prior"], report["widowx"]["gate"]) == choose(scores)
    loaded = load_checkpoint(ckpt)  # still verifies: the weights were not rewritten
    assert checkpoint_digest(ckpt) == digest
    assert loaded.stats["widowx"].tcp_residual_gate == report["widowx"]["gate"]
    assert loaded.stats["widowx"].kinematic_prior == (report["widowx"]["prior"] != "commanded")
    assert loaded.stats["widowx"].servo_prior == report["widowx"]["prior"].startswith("servo")
    assert loaded.stats["widowx"].table_depth_m is None and not loaded.stats["widowx"].finger_servo
    assert loaded.stats["ur5e"].tcp_residual_gate == 1.0 and not loaded.stats["ur5e"].kinematic_prior  # unchanged
    calibrate_tcp_gates(ckpt, ["ur5e"], episodes=1, gates=(1.0,), priors=("commanded",))  # keeps widowx's row
    loaded = load_checkpoint(ckpt)
    assert {"widowx", "ur5e"} <= set(loaded.meta["tcp_gate_calibration"])
    assert loaded.stats["ur5e"].tcp_residual_gate == 1.0 and not loaded.stats["ur5e"].kinematic_prior
    # the contact priors, on request: the table depth is measured, the finger servo scored and chosen by its rule
    report = calibrate_tcp_gates(ckpt, ["widowx"], 1, (0.0,), priors=("kinematic", "kinematic+table"), fingers=True)
    row, loaded = report["widowx"], load_checkpoint(ckpt)
    assert set(row["scores"]) == {"kinematic", "kinematic+table"} and row["table_depth_mm"] >= 0
    assert row["finger_servo_score"]["gripper_mm_at_16"] >= 0 and row["no_contact_priors"] is None
    assert loaded.stats["widowx"].finger_servo == row["finger_servo"] and not loaded.stats["widowx"].cube_motion
    calibrate_tcp_gates(ckpt, ["widowx"], 1, (0.0,), priors=("kinematic",), fingers=True, cube_motion=True)
    assert load_checkpoint(ckpt).stats["widowx"].cube_motion  # strikes and slides, on request
    assert (loaded.stats["widowx"].table_depth_m is not None) == row["prior"].endswith("+table")


def test_a_gate_that_loses_closed_loop_agreement_is_not_chosen():
    scores = {
        0.0: {"tcp_mm_at_16": 1.0, "expert_agreement": 0.80},  # least drift, but 4 episodes in 50 lost
        0.5: {"tcp_mm_at_16": 2.0, "expert_agreement": 0.89},  # within the tolerance
        1.0: {"tcp_mm_at_16": 5.0, "expert_agreement": 0.90},
    }
    assert choose_gate(scores) == 0.5
    assert (
        choose_gate(
            {0.0: {"tcp_mm_at_16": 2.0, "expert_agreement": 1.0}, 1.0: {"tcp_mm_at_16": 2.0, "expert_agreement": 1.0}}
        )
        == 1.0
    )


def test_the_kinematic_prior_is_taken_only_where_it_is_measurably_better():
    def cell(mm: float, agree: float = 1.0) -> dict[str, float]:
        return {"tcp_mm_at_16": mm, "expert_agreement": agree}

    scores = {"commanded": {0.0: cell(2.0), 1.0: cell(3.0)}, "kinematic": {0.0: cell(2.0 - PRIOR_TOL_MM / 2)}}
    assert choose(scores) == ("commanded", 0.0)  # a tie is not worth an IK solve per step
    scores["kinematic"][0.0] = cell(2.0 - 2 * PRIOR_TOL_MM)
    assert choose(scores) == ("kinematic", 0.0)
    # agreement is judged against the model as trained (commanded, largest gate), for both priors
    scores["kinematic"][0.0] = cell(1.0, agree=0.9)
    assert choose(scores) == ("commanded", 0.0)
    # cheapest first: the servo prior must beat the prior chosen so far, not just the commanded one
    scores["kinematic"][0.0] = cell(1.5)
    scores["servo"] = {0.0: cell(1.5 - PRIOR_TOL_MM / 2)}
    assert choose(scores) == ("kinematic", 0.0)
    scores["servo"][0.0] = cell(1.5 - 2 * PRIOR_TOL_MM)
    assert choose(scores) == ("servo", 0.0)
    del scores["kinematic"]
    assert choose(scores) == ("servo", 0.0)


def test_the_finger_servo_is_taken_only_where_it_lowers_the_gripper_error_and_keeps_agreement():
    def cell(grip: float, agree: float = 1.0) -> dict[str, float]:
        return {"tcp_mm_at_16": 1.0, "gripper_mm_at_16": grip, "expert_agreement": agree}

    assert choose_fingers(cell(2.0), cell(0.1), cell(9.0))
    assert not choose_fingers(cell(2.0), cell(2.0 - PRIOR_TOL_MM / 2), cell(9.0))  # a tie: the generator stays
    assert not choose_fingers(cell(2.0), cell(0.1, agree=0.9), cell(9.0))  # exact fingers, but episodes lost


def test_each_prior_sets_its_flags_and_the_table_depth_is_measured_where_grippers_touch():
    assert prior_flags("commanded", 0.002) == {"kinematic_prior": False, "servo_prior": False, "table_depth_m": None}
    assert prior_flags("servo", 0.002) == {"kinematic_prior": True, "servo_prior": True, "table_depth_m": None}
    assert prior_flags("kinematic+table", 0.002) == {
        "kinematic_prior": True,
        "servo_prior": False,
        "table_depth_m": 0.002,
    }
    from cosmos3_gym.model.prior import CommandPrior
    from cosmos3_gym.tokens import load_embodiment

    emb = load_embodiment("ur5e")
    twin = MujocoTwinEnv("ur5e", "lift")
    obs, _ = twin.reset(seed=0)
    states = np.tile(obs["observation"], (3, 1))
    assert table_depth(emb, states) == 0.0  # the gripper starts in the air
    prior = CommandPrior(emb, kinematic=True, table_depth=0.0)
    chain, hull = prior.chains[0], prior.hulls[0]
    joints = emb.layout.get(states, "joint_pos")
    target = chain.forward(joints)
    for k, depth in ((1, 0.001), (2, 0.003)):  # two states sunk 1 and 3 mm into the table: the median is 2
        target[k, 2, 3] -= hull.lowest(target[k : k + 1], joints[k : k + 1])[0] + depth
        for _ in range(30):
            joints[k, chain.qadr], _ = chain.solve(joints[k : k + 1], target[k : k + 1])
    states[:, emb.layout.parts["joint_pos"]] = joints
    tcp = chain.forward(joints)
    states[:, emb.layout.parts["tcp_pos"]] = tcp[:, :3, 3]
    from cosmos3_gym.tokens.rotation import matrix_to_rot6d

    states[:, emb.layout.parts["tcp_rot6d"]] = matrix_to_rot6d(tcp[:, :3, :3])
    assert table_depth(emb, states) == pytest.approx(0.002, abs=2e-4)


def test_a_gripper_without_what_the_contact_priors_need_is_named(tmp_path):
    import yaml

    from cosmos3_gym.embodiment.catalog import embodiments_dir, list_embodiments

    assert all(contact_support(name) is None for name in list_embodiments())
    doc = yaml.safe_load((embodiments_dir() / "franka.yaml").read_text())
    doc.update(name="novel", mjcf=str(embodiments_dir() / doc["mjcf"]))
    doc["observation"] = [p for p in doc["observation"] if p != "joint_vel"]
    (tmp_path / "novel.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert "needs 'joint_vel'" in contact_support(str(tmp_path / "novel.yaml"))


def _step_tcp(ckpt: Checkpoint, gate: float, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(commanded TCP position, predicted TCP position) of one step of a fresh learned UR5e Reach env."""
    gated = Checkpoint(ckpt.model, {**ckpt.stats, "ur5e": replace(ckpt.stats["ur5e"], tcp_residual_gate=gate)})
    core = LearnedSimCore("ur5e", "reach", 1, gated)
    core.reset(np.arange(1), [5])
    target, _ = core.nmap.command(core.prior.arm_tcp(core.state), action[None])
    core.step(action[None])
    return target[0, 0, :3, 3], core.prior.arm_tcp(core.state)[0, 0, :3, 3]


def test_gate_zero_puts_the_tcp_at_its_commanded_pose_and_gate_one_adds_the_residual(tiny_model):
    ckpt = load_checkpoint(tiny_model)
    action = np.array([0.3, -0.2, 0.5, 0.1, 0.0, -0.1, 1.0], np.float32)  # upwards: no table floor involved
    commanded, predicted = _step_tcp(ckpt, 0.0, action)
    np.testing.assert_allclose(predicted, commanded, atol=1e-5)
    _, residual = _step_tcp(ckpt, 1.0, action)
    assert np.abs(residual - commanded).max() > 1e-5


def test_bad_requests_are_refused_and_leave_the_checkpoint_untouched(ckpt):
    before = open(f"{ckpt}/config.json").read()
    with pytest.raises(ValueError, match="not trained on"):
        calibrate_tcp_gates(ckpt, ["nonexistent"], episodes=1)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        calibrate_tcp_gates(ckpt, ["franka"], episodes=1, gates=(0.0, -0.5))
    with pytest.raises(ValueError, match="episodes must be >= 1"):
        calibrate_tcp_gates(ckpt, ["franka"], episodes=0)
    with pytest.raises(ValueError, match=r"priors must be some of commanded, kinematic, servo, .*, got learned"):
        calibrate_tcp_gates(ckpt, ["franka"], episodes=1, priors=("learned",))
    assert open(f"{ckpt}/config.json").read() == before
    config = json.loads(before)
    no_prior = dict(config, model=dict(config["model"], residual_prior=False))
    with open(f"{ckpt}/config.json", "w") as f:
        json.dump(no_prior, f)
    with pytest.raises(SystemExit, match="not a residual_prior checkpoint"):
        cli(["calibrate-fd", "--model", ckpt, "--episodes", "1"])
    assert json.loads(open(f"{ckpt}/config.json").read()) == no_prior


def test_the_kinematic_prior_stops_the_arm_where_mujoco_stops_it(tiny_model):
    """Pushed far out of reach, the controller stops the arm at its limits: a model whose TCP is the kinematic
    prior alone follows MuJoCo there, the commanded-pose prior runs on past the arm's reach."""
    ckpt = load_checkpoint(tiny_model)
    action = np.array([1.0, 0.0, 0.3, 0.0, 0.0, 0.0, 1.0])
    twin = MujocoTwinEnv("widowx", "reach")
    twin.reset(seed=3)
    for _ in range(40):
        twin.step(action)
    truth = twin.controller.arm_tcp(twin.data)[0, :3, 3]
    errors = {}
    for kinematic in (False, True):
        stats = replace(ckpt.stats["widowx"], tcp_residual_gate=0.0, kinematic_prior=kinematic)
        core = LearnedSimCore("widowx", "reach", 1, Checkpoint(ckpt.model, {**ckpt.stats, "widowx": stats}))
        core.reset(np.arange(1), [3])
        for _ in range(40):
            core.step(action[None])
            core.after_step()
        errors[kinematic] = np.linalg.norm(core.prior.arm_tcp(core.state)[0, 0, :3, 3] - truth)
    assert errors[True] < 0.01 and errors[False] > 0.1, errors


@pytest.mark.parametrize("servo,contact", [(False, False), (True, False), (True, True)])
def test_forward_dynamics_applies_the_kinematic_prior_as_the_env_does(tiny_model, servo, contact):
    """The planner's rollouts (ModeRunner.forward_dynamics) and the env put the arm and fingers at the same place,
    with the contact priors too (table and finger servo)."""
    from cosmos3_gym.model.inference import ModeRunner

    ckpt = load_checkpoint(tiny_model)
    flags = {"table_depth_m": 0.001, "finger_servo": True} if contact else {}
    stats = replace(ckpt.stats["widowx"], tcp_residual_gate=0.0, kinematic_prior=True, servo_prior=servo, **flags)
    kin = Checkpoint(ckpt.model, {**ckpt.stats, "widowx": stats})
    core = LearnedSimCore("widowx", "reach", 1, kin)
    core.reset(np.arange(1), [3])
    start, raws, tcps, widths = core.state.copy(), [], [], []
    for t in range(12):  # with contact: down onto the table, the gripper closing and opening
        down, grip = (-1.0, 1.0 - 2 * (t % 4 < 2)) if contact else (0.5, 1.0)
        _, _, _, info = core.step(np.array([[1.0, 0.2 * t - 1, down, 0.0, 0.3, 0.0, grip]]))
        raws.append(info["cosmos3_action"][0])
        tcps.append(core.prior.arm_tcp(core.state)[0, 0, :3, 3])
        widths.append(core.layout.arm(core.state, "gripper_width", 0)[0, 0])
    rolled = ModeRunner(kin, "widowx").forward_dynamics(start[:, None], np.array(raws)[None], core.goal, "reach")
    np.testing.assert_allclose(core.prior.arm_tcp(rolled[0])[:, 0, :3, 3], np.array(tcps), atol=1e-6)
    if contact:  # the same fingers, and the gripper reached the table
        np.testing.assert_allclose(core.layout.arm(rolled[0], "gripper_width", 0)[:, 0], widths, atol=1e-9)
        assert min(t[2] for t in tcps) < core.emb.spec.workspace.table_z + 0.03


@pytest.mark.parametrize("servo", [False, True])
def test_the_kinematic_prior_sets_the_arm_joints_and_leaves_the_others_to_the_model(tiny_model, servo):
    ckpt = load_checkpoint(tiny_model)
    cores = {}
    for kinematic in (False, True):
        flags = {"kinematic_prior": kinematic, "servo_prior": servo and kinematic}
        stats = replace(ckpt.stats["agibot"], tcp_residual_gate=0.0, **flags)
        core = LearnedSimCore("agibot", "lift", 1, Checkpoint(ckpt.model, {**ckpt.stats, "agibot": stats}))
        core.reset(np.arange(1), [4])
        action = np.tile([0.4, -0.3, 0.2, 0.1, 0.0, 0.2, -1.0], 2)[None]  # both arms move, grippers close
        target, _ = core.nmap.command(core.prior.arm_tcp(core.state), action)
        _, arm_q = core.prior.reach(core.state, target)
        core.step(action)
        cores[kinematic] = (core, arm_q)
    (plain, _), (kin, arm_q) = cores[False], cores[True]
    joints = kin.layout.parts["joint_pos"]
    arm = joints.start + kin.prior.arm_joints
    k = len(kin.prior.arm_joints)
    np.testing.assert_array_equal(kin.state[:, arm], arm_q[:, :k])
    others = np.setdiff1d(np.arange(joints.start, joints.stop), arm)
    assert len(others) > 0  # AgiBot: waist, head and finger joints
    # every other joint is the network's own prediction, as without the kinematic prior
    np.testing.assert_allclose(kin.state[:, others], plain.state[:, others], atol=1e-12)
    vel = kin.layout.parts["joint_vel"]
    if servo:  # the servo sets the arms' velocities too, the model's own prediction stays for every other one
        np.testing.assert_array_equal(kin.state[:, vel.start + kin.prior.arm_dofs], arm_q[:, k:])
        rest = np.setdiff1d(np.arange(vel.start, vel.stop), vel.start + kin.prior.arm_dofs)
        np.testing.assert_allclose(kin.state[:, rest], plain.state[:, rest], atol=1e-12)
    else:
        assert arm_q.shape[1] == k
        np.testing.assert_allclose(kin.state[:, vel], plain.state[:, vel], atol=1e-12)


def test_a_servo_prior_without_the_kinematic_one_or_without_joint_velocities_is_refused(tmp_path):
    import yaml

    from cosmos3_gym.embodiment.catalog import embodiments_dir
    from cosmos3_gym.model.prior import CommandPrior
    from cosmos3_gym.tokens.embodiment import load_embodiment

    with pytest.raises(ValueError, match="needs kinematic=True"):
        CommandPrior(load_embodiment("franka"), servo=True)
    CommandPrior(load_embodiment("franka"), kinematic=True, servo=True)  # franka observes its joint velocities
    doc = yaml.safe_load((embodiments_dir() / "franka.yaml").read_text())
    doc.update(name="novel", mjcf=str(embodiments_dir() / doc["mjcf"]))
    doc["observation"] = [p for p in doc["observation"] if p != "joint_vel"]
    (tmp_path / "novel.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(ValueError, match="needs 'joint_vel' in the YAML's observation"):
        CommandPrior(load_embodiment(tmp_path / "novel.yaml"), kinematic=True, servo=True)
