"""Where embodiment YAMLs come from, and their names (cheap: no MuJoCo, no validation).

Three sources, in this order of precedence: the shipped YAMLs inside the package, every ``<name>.yaml``
in the folders of the environment variable ``COSMOS3_GYM_EMBODIMENT_PATH`` (``os.pathsep``-separated,
like ``PATH``), and the files given to :func:`add_embodiment_file` (what ``register_embodiment`` calls).
A name is unique across them: a later source cannot shadow an earlier one.
"""

from __future__ import annotations

import os
import warnings
from importlib import resources
from pathlib import Path

import yaml

#: Environment variable: folders of users' embodiment YAMLs, listed and loaded like the shipped ones.
PATH_VAR = "COSMOS3_GYM_EMBODIMENT_PATH"
YAML_SUFFIXES = (".yaml", ".yml")
#: Embodiments registered in this process: name → resolved YAML path.
_REGISTERED: dict[str, Path] = {}


def embodiments_dir() -> Path:
    """Folder of the shipped embodiment YAMLs (``embodiments/`` in the repo, inside the wheel too)."""
    return Path(str(resources.files("cosmos3_gym.embodiments")))


def search_path() -> list[Path]:
    """The folders of ``$COSMOS3_GYM_EMBODIMENT_PATH``, in order (empty entries skipped)."""
    return [Path(p).expanduser() for p in os.environ.get(PATH_VAR, "").split(os.pathsep) if p.strip()]


def shipped_embodiments() -> list[str]:
    """Names of the embodiments shipped with the package: ``["agibot", "franka", "umi", "ur5e", "widowx"]``."""
    return sorted(p.stem for p in embodiments_dir().glob("*.yaml"))


def embodiment_files() -> dict[str, Path]:
    """Every known embodiment: name → YAML file (shipped, then the search path, then registered ones).

    A search-path file is named by its file name (``mybot.yaml`` → ``mybot``, as the shipped ones); one
    whose name is already taken is skipped with a warning naming both files.
    """
    files = {p.stem: p for p in sorted(embodiments_dir().glob("*.yaml"))}
    for folder in search_path():
        if not folder.is_dir():
            warnings.warn(f"{PATH_VAR}: {folder} is not a folder; skipped", stacklevel=2)
            continue
        for p in sorted(f for f in folder.iterdir() if f.suffix in YAML_SUFFIXES and f.is_file()):
            if p.stem in files and files[p.stem].resolve() != p.resolve():
                warnings.warn(f"{PATH_VAR}: {p} skipped, the name {p.stem!r} is taken by {files[p.stem]}", stacklevel=2)
                continue
            files.setdefault(p.stem, p)
    for name, p in _REGISTERED.items():
        files.setdefault(name, p)
    return files


def list_embodiments() -> list[str]:
    """Names of every known embodiment, sorted: the shipped five (``["agibot", "franka", "umi", "ur5e",
    "widowx"]``), plus those on ``$COSMOS3_GYM_EMBODIMENT_PATH`` and those registered in this process."""
    return sorted(embodiment_files())


def is_yaml_path(name_or_path: str | Path) -> bool:
    """Whether a CLI/API value names a YAML file (ends in .yaml/.yml or contains a path separator)."""
    text = str(name_or_path)
    return Path(text).suffix in YAML_SUFFIXES or os.sep in text or (os.altsep is not None and os.altsep in text)


def resolve_name(name: str) -> str:
    """A known embodiment name, matched exactly or case-insensitively when that is unambiguous
    (``"Franka"`` → ``"franka"``); anything else raises ``ValueError`` naming what is allowed."""
    names = list_embodiments()
    if name in names:
        return name
    folded = [n for n in names if n.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise ValueError(
        f"unknown embodiment {name!r}; allowed: {', '.join(names)}, or a path to an embodiment YAML "
        f"(or a folder of them on ${PATH_VAR})"
    )


def yaml_field(path: Path, key: str) -> object:
    """One top-level field of a YAML file, read without validation (None where the file has no such key)."""
    doc = yaml.safe_load(path.read_text())
    return doc.get(key) if isinstance(doc, dict) else None


def add_embodiment_file(name: str, path: str | Path) -> None:
    """Make ``name`` resolve to ``path`` in this process (the YAML is validated by the caller first).

    Re-adding the same file is a no-op; a name taken by another file raises ``ValueError``."""
    path = Path(path).resolve()
    taken = embodiment_files().get(name)
    if taken is not None and taken.resolve() != path:
        raise ValueError(f"embodiment name {name!r} of {path} is taken by {taken}; rename it (field 'name')")
    _REGISTERED[name] = path
