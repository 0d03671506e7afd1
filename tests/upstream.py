"""Run pieces of the real upstream code (vLLM-Omni, diffusers) in tests, without their heavy imports.

:func:`fetch_wheel` takes a pinned wheel from the package index (``pip download``) into a cache;
:func:`load_definitions` executes chosen definitions of a source file (functions, classes, nested
functions, constants) in a namespace the test provides, so a module's pydantic models or a pipeline's
preprocessing run as written, with only their imports stood in. Nothing here is a copy of upstream code.
"""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any


def fetch_wheel(name: str, version: str, filename: str, sha256: str, cache: Path, env: str) -> Path | str:
    """The wheel ``filename`` of ``name==version``: ``$env`` if set, else ``cache/filename``, downloaded with
    ``pip download`` when missing. Returns the path, or a one-line reason when it cannot be had (no index).
    A file whose SHA-256 differs from the pinned one raises: that is not "unavailable", it is wrong."""
    path = Path(os.environ[env]) if os.environ.get(env) else cache / filename
    if not path.is_file():
        cmd = [sys.executable, "-m", "pip", "download", f"{name}=={version}", "--no-deps", "--only-binary=:all:"]
        try:
            proc = subprocess.run([*cmd, "-q", "-d", str(cache)], capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"cannot run pip download {name}=={version}: {err}"
        if proc.returncode != 0 or not path.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return f"{name}=={version} cannot be downloaded from the package index ({last})"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise AssertionError(f"{path}: SHA-256 {digest}, expected the pinned {name} {version} wheel's {sha256}")
    return path


def _named_nodes(tree: ast.AST, names: Sequence[str]) -> dict[str, ast.stmt]:
    found: dict[str, ast.stmt] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            key = node.name
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            key = node.targets[0].id
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            key = node.target.id
        else:
            continue
        if key in names and key not in found:  # first in walk order: module level before nested
            found[key] = node
    return found


def _run(body: list[ast.stmt], filename: str, provided: dict[str, Any]) -> ModuleType:
    """Execute ``body`` as a fresh module (upstream code, pinned by hash or version) seeded with ``provided``."""
    module = ModuleType("upstream_" + "".join(c if c.isalnum() else "_" for c in filename))
    module.__dict__.update({k: v for k, v in provided.items() if not k.startswith("__")})
    sys.modules[module.__name__] = module  # dataclasses and pydantic look a class's module up there
    exec(compile(ast.Module(body=body, type_ignores=[]), filename, "exec"), module.__dict__)
    return module


def load_definitions(source: str, filename: str, names: Sequence[str], provided: dict[str, Any]) -> dict[str, Any]:
    """Execute the definitions ``names`` of ``source`` (in the given order, decorators included; nested
    functions become plain functions) with ``provided`` supplying what they refer to → the namespace."""
    found = _named_nodes(ast.parse(source, filename), names)
    missing = [n for n in names if n not in found]
    if missing:
        raise LookupError(f"{filename} no longer defines {missing}; the test must follow the upstream change")
    return _run([found[n] for n in names], filename, provided).__dict__


def load_module(source: str, filename: str, provided: dict[str, Any], drop: Sequence[str]) -> ModuleType:
    """Execute a whole module whose ``from <m> import ...`` statements for the modules in ``drop`` are
    removed, their names taken from ``provided`` instead."""
    tree = ast.parse(source, filename)
    return _run([n for n in tree.body if not (isinstance(n, ast.ImportFrom) and n.module in drop)], filename, provided)


def function_parameters(source: str, filename: str, function: str) -> dict[str, tuple[str, str]]:
    """``{parameter: (annotation, default)}`` of a function's signature, as source text."""
    node = _named_nodes(ast.parse(source, filename), [function]).get(function)
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise LookupError(f"{filename} no longer defines {function}()")
    args = node.args.args + node.args.kwonlyargs
    defaults = [None] * (len(node.args.args) - len(node.args.defaults)) + node.args.defaults + node.args.kw_defaults
    return {
        a.arg: (ast.unparse(a.annotation) if a.annotation else "", ast.unparse(d) if d is not None else "")
        for a, d in zip(args, defaults, strict=True)
    }
