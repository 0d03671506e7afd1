"""The wheel ships every subpackage and the embodiment data (YAML + MJCF)."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_subpackage():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "cosmos3_gym").rglob("__init__.py")}
    assert found | {"cosmos3_gym.embodiments"} == listed


def test_every_yaml_has_its_mjcf_in_package_data():
    import yaml

    for path in (ROOT / "embodiments").glob("*.yaml"):
        mjcf = yaml.safe_load(path.read_text())["mjcf"]
        assert mjcf.startswith("mjcf/") and mjcf.endswith(".xml") and (ROOT / "embodiments" / mjcf).is_file()
