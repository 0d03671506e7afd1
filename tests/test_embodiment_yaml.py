"""Every shipped YAML loads; every malformed variant is refused with an error naming file and field."""

from __future__ import annotations

import copy
import math
import shutil
from pathlib import Path

import pytest
import yaml

from cosmos3_gym import EmbodimentConfigError, list_embodiments, load_embodiment
from cosmos3_gym.embodiment import embodiments_dir


@pytest.mark.parametrize("name", list_embodiments())
def test_shipped_yaml_loads(name):
    emb = load_embodiment(name)
    assert emb.name == name
    assert emb.chunk_size == 16
    assert emb.raw_action_dim == (29 if name == "agibot" else 10)
    assert emb.native_action_dim == 7 * len(emb.spec.action.arms)


def test_list_embodiments():
    assert list_embodiments() == ["agibot", "franka", "umi", "ur5e", "widowx"]


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="allowed: agibot, franka"):
        load_embodiment("panda")


def _set(path: str, value):
    def mutate(doc):
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str):
    def mutate(doc):
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        del node[last]

    return mutate


# (case id, mutation of the franka YAML document, field that the error must name)
MALFORMED = [
    ("missing-top-key", _delete("cosmos3"), "cosmos3"),
    ("unknown-top-key", _set("colour", "red"), "colour"),
    ("unknown-nested-key", _set("cosmos3.fsp", 15), "cosmos3.fsp"),
    ("missing-fps", _delete("cosmos3.fps"), "cosmos3.fps"),
    ("fps-string", _set("cosmos3.fps", "fifteen"), "cosmos3.fps"),
    ("fps-negative", _set("cosmos3.fps", -15), "cosmos3.fps"),
    ("fps-bool", _set("cosmos3.fps", True), "cosmos3.fps"),
    ("chunk-not-multiple-of-4", _set("cosmos3.chunk_size", 15), "cosmos3.chunk_size"),
    ("unknown-domain", _set("cosmos3.domain_name", "droid"), "cosmos3.domain_name"),
    ("wrong-domain-id", _set("cosmos3.domain_id", 7), "cosmos3.domain_id"),
    ("raw-dim-vs-layout", _set("cosmos3.raw_action_dim", 11), "cosmos3.raw_action_dim"),
    ("raw-dim-over-64", _set("cosmos3.raw_action_dim", 65), "cosmos3.raw_action_dim"),
    ("layout-unknown-block", _set("cosmos3.layout", ["ee", "claw"]), "cosmos3.layout"),
    ("stats-short", _set("cosmos3.stats.q01", [0.0] * 9), "cosmos3.stats.q01"),
    ("stats-nan", _set("cosmos3.stats.q99.0", math.nan), "cosmos3.stats.q99[0]"),
    ("stats-inf", _set("cosmos3.stats.q01.2", -math.inf), "cosmos3.stats.q01[2]"),
    ("stats-q99-below-q01", _set("cosmos3.stats.q99.1", -0.5), "cosmos3.stats.q99[1]"),
    ("stats-q99-equal-q01", _set("cosmos3.stats.q99.9", 0.0), "cosmos3.stats.q99[9]"),
    ("stats-missing-source", _delete("cosmos3.stats.source"), "cosmos3.stats.source"),
    (
        "to-opencv-not-rotation",
        _set("end_effectors.0.to_opencv", [[1, 0, 0], [0, 1, 0], [0, 0, -1]]),
        "end_effectors[0].to_opencv",
    ),
    ("to-opencv-wrong-shape", _set("end_effectors.0.to_opencv", [[1, 0], [0, 1]]), "end_effectors[0].to_opencv"),
    ("offset-wrong-length", _set("end_effectors.0.offset_m", [0.0, 0.0]), "end_effectors[0].offset_m"),
    ("gripper-bad-convention", _set("grippers.0.convention", "percent"), "grippers[0].convention"),
    ("gripper-scale-length", _set("grippers.0.width_scale", [1.0]), "grippers[0].width_scale"),
    ("gripper-ctrl-equal", _set("grippers.0.ctrl_open", 0.0), "grippers[0].ctrl_open"),
    ("action-unknown-gripper", _set("action.arms.0.gripper", "hand"), "action.arms[0].gripper"),
    ("action-zero-translation", _set("action.max_translation_m", 0.0), "action.max_translation_m"),
    ("action-frame", _set("action.frame", "tool"), "action.frame"),
    ("controller-type", _set("controller.type", "osc"), "controller.type"),
    ("workspace-inverted-box", _set("workspace.cube_high", [0.3, 0.15]), "workspace.cube_high[0]"),
    ("observation-unknown-part", _set("observation", ["tcp_pos", "rgb"]), "observation"),
    ("gym-name-lowercase", _set("gym_name", "franka"), "gym_name"),
    ("schema-version", _set("schema_version", 2), "schema_version"),
    ("mjcf-missing", _set("mjcf", "mjcf/nothing.xml"), "mjcf"),
    ("top-level-not-mapping", lambda doc: doc.clear() or doc.update({"__list__": True}), "__list__"),
]


@pytest.fixture()
def franka_copy(tmp_path: Path) -> Path:
    src = embodiments_dir()
    shutil.copytree(src / "mjcf", tmp_path / "mjcf")
    return tmp_path


@pytest.mark.parametrize(("case", "mutate", "field"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_yaml_is_refused(franka_copy: Path, case, mutate, field):
    doc = yaml.safe_load((embodiments_dir() / "franka.yaml").read_text())
    doc = copy.deepcopy(doc)
    mutate(doc)
    path = franka_copy / "broken.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(EmbodimentConfigError) as info:
        load_embodiment(path)
    message = str(info.value)
    assert str(path) in message and f"'{field}'" in message, message
    assert info.value.allowed  # says what is allowed


def test_not_yaml_and_not_mapping(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(EmbodimentConfigError, match="valid YAML"):
        load_embodiment(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(EmbodimentConfigError, match="must be a mapping"):
        load_embodiment(bad)


def test_mjcf_name_mismatch_is_named(franka_copy: Path):
    doc = yaml.safe_load((embodiments_dir() / "franka.yaml").read_text())
    doc["end_effectors"][0]["site"] = "flange"
    path = franka_copy / "renamed.yaml"
    path.write_text(yaml.safe_dump(doc))
    emb = load_embodiment(path)  # names are checked when the MJCF is compiled
    with pytest.raises(EmbodimentConfigError, match=r"end_effectors\[0\]\.site.*no site of that name"):
        emb.make_model()
