"""A user's robot from any folder: register_embodiment, the search path, and every CLI option that takes one."""

from __future__ import annotations

import json
import shutil

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

import cosmos3_gym
from cosmos3_gym.cli import COMMANDS, build_parser
from cosmos3_gym.cli import main as cli_main
from cosmos3_gym.embodiment import catalog, embodiments_dir
from cosmos3_gym.tasks import TASKS


@pytest.fixture()
def restore_registry():
    """Undo what a test registers: other tests iterate over ``list_embodiments()`` and the gym registry."""
    known, ids = dict(catalog._REGISTERED), set(gym.registry)
    yield
    catalog._REGISTERED.clear()
    catalog._REGISTERED.update(known)
    for env_id in set(gym.registry) - ids:
        del gym.registry[env_id]


def make_robot(folder, name: str = "mybot", gym_name: str = "MyBot", source: str = "franka"):
    """A robot YAML + MJCF in ``folder`` (a shipped robot under a new name, MJCF in a subfolder); returns the YAML."""
    doc = yaml.safe_load((embodiments_dir() / f"{source}.yaml").read_text())
    (folder / "models").mkdir(parents=True, exist_ok=True)
    shutil.copy(embodiments_dir() / doc["mjcf"], folder / "models" / f"{name}.xml")
    doc.update(name=name, gym_name=gym_name, mjcf=f"models/{name}.xml")
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_register_embodiment_makes_every_id_and_the_cli_take_a_path(tmp_path, restore_registry):
    path = make_robot(tmp_path / "robots")
    emb = cosmos3_gym.register_embodiment(path)
    assert emb.name == "mybot" and "mybot" in cosmos3_gym.list_embodiments()
    for task in TASKS:  # the shipped naming, for every task and both backends
        assert {f"Cosmos3-MyBot-{task.capitalize()}-v0", f"Cosmos3-MyBot-{task.capitalize()}-MuJoCo-v0"} <= set(
            gym.registry
        )
    assert {"Cosmos3-MyBot-v0", "Cosmos3-MyBot-MuJoCo-v0"} <= set(gym.registry)
    env = gym.make("Cosmos3-MyBot-Lift-MuJoCo-v0")
    check_env(env.unwrapped, skip_render_check=True)
    env.close()
    # The learned id says what it needs: a checkpoint trained on the robot (the shipped one is not).
    with pytest.raises(ValueError, match=r"not trained on 'mybot'.*MuJoCo twin.*--init-from default"):
        gym.make("Cosmos3-MyBot-Lift-v0")
    # The CLI takes the path (in a fresh registry too: the option registers it).
    del catalog._REGISTERED["mybot"]
    out = tmp_path / "data"
    argv = ["collect", "--embodiment", str(path), "--task", "reach", "--episodes", "1", "--policy", "expert"]
    assert cli_main([*argv, "--out", str(out), "--max-steps", "4", "--json"]) == 0
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["cosmos3"]["embodiment"] == "mybot" and info["cosmos3"]["env_id"] == "Cosmos3-MyBot-Reach-MuJoCo-v0"


def test_every_embodiment_option_of_the_cli_takes_a_path(tmp_path, restore_registry):
    """Discovered from the parser: no option that takes an embodiment is left with a fixed list of names."""
    path = str(make_robot(tmp_path))
    required = {"collect": ["--task", "lift", "--episodes", "1", "--policy", "expert", "--out", "x"]}
    required |= {"train": ["--data", "x", "--out", "y"], "validate": ["--env", "x"], "calibrate-id": ["--model", "m"]}
    required |= {"calibrate-uncertainty": ["--model", "m"], "calibrate-contact": ["--model", "m", "--data", "x"]}
    required |= {"calibrate-fd": ["--model", "m"]}
    required |= {"remote-check": ["--endpoint", "http://localhost:1"], "train-policy": ["--out", "x"]}
    found = []
    for name in COMMANDS:
        sub = build_parser()._subparsers._group_actions[0].choices[name]
        for action in sub._actions:
            if "embodiment" not in action.dest:
                continue
            found.append(name)
            flag = action.option_strings[0] if action.option_strings else None
            argv = [name, *required.get(name, []), *([flag] if flag else []), path]
            args = build_parser().parse_args(argv)
            value = getattr(args, action.dest)
            assert "mybot" in (value if isinstance(value, list) else [value]), (name, value)
    assert {
        "collect",
        "demo",
        "train",
        "validate",
        "rl",
        "bench",
        "embodiments",
        "calibrate-id",
        "calibrate-contact",
        "remote-check",
        "train-policy",
    } <= set(found)


def test_the_search_path_lists_a_users_robots_like_shipped_ones(tmp_path, monkeypatch, restore_registry):
    folder = tmp_path / "robots"
    make_robot(folder, "otherbot", "OtherBot", source="widowx")
    monkeypatch.setenv(catalog.PATH_VAR, str(folder))
    assert "otherbot" in cosmos3_gym.list_embodiments()
    assert cosmos3_gym.load_embodiment("OtherBot").name == "otherbot"  # names match case-insensitively
    cosmos3_gym.registration.register_all()
    assert gym.make("Cosmos3-OtherBot-Reach-MuJoCo-v0").unwrapped.emb.name == "otherbot"
    # A file that shadows a shipped name is skipped with a warning, not loaded in its place.
    make_robot(folder, "franka", "Franka2")
    with pytest.warns(UserWarning, match="the name 'franka' is taken"):
        assert catalog.embodiment_files()["franka"].parent == embodiments_dir()


def test_a_name_or_gym_name_taken_by_another_robot_is_refused(tmp_path, restore_registry):
    with pytest.raises(ValueError, match="taken by"):
        cosmos3_gym.register_embodiment(make_robot(tmp_path / "a", "franka", "Panda"))
    with pytest.raises(ValueError, match="gym_name 'Franka' is taken"):
        cosmos3_gym.register_embodiment(make_robot(tmp_path / "b", "panda", "Franka"))


def test_a_new_cosmos3_domain_takes_an_id_cosmos3_does_not_use(tmp_path, restore_registry):
    path = make_robot(tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["cosmos3"].update(domain_name="mybot_lab", domain_id=24)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert cosmos3_gym.register_embodiment(path).domain_id == 24
    doc["cosmos3"]["domain_id"] = 8  # droid_lerobot's: a new domain must not share an existing one's tables
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(cosmos3_gym.EmbodimentConfigError, match=r"cosmos3.domain_name.*free: 10, 11, 14"):
        cosmos3_gym.load_embodiment(path)


def test_ray_workers_collect_a_robot_registered_in_the_driver(tmp_path, restore_registry):
    pytest.importorskip("ray", reason="the extra 'distributed' (Ray) is not installed")
    from cosmos3_gym.data import collect, load_dataset

    cosmos3_gym.register_embodiment(make_robot(tmp_path / "robots"))  # the workers' processes never saw this
    out = collect("mybot", "reach", 3, "expert", tmp_path / "ray", progress=False, workers=2)
    serial = collect("mybot", "reach", 3, "expert", tmp_path / "serial", progress=False)
    a, b = load_dataset(out), load_dataset(serial)
    assert a.num_episodes == 3 and (a.state == b.state).all() and (a.action == b.action).all()


def test_a_robot_without_gripper_width_observation_gets_the_staged_reward_without_grasps(tmp_path, restore_registry):
    """The observation layout needs no ``gripper_width``: the effector's openings are NaN and the staged Lift
    reward then never credits a grasp (training a model does need the opening, for the contract inverse)."""
    path = make_robot(tmp_path / "robots")
    doc = yaml.safe_load(path.read_text())
    doc["observation"] = [p for p in doc["observation"] if p != "gripper_width"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    cosmos3_gym.register_embodiment(path)
    twin = gym.make("Cosmos3-MyBot-Lift-MuJoCo-v0")
    _, info = twin.reset(seed=0)
    assert np.isnan(info["effector"][:, 3]).all()
    for _ in range(5):
        _, reward, *_ = twin.step(twin.action_space.sample())
        assert 0.0 <= reward <= 1 / 3  # reach only
    twin.close()
