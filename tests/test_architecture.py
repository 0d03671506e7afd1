"""The layout shows the architecture: folders follow the data flow, no import cycles, small modules.

Read from the source (every ``import`` statement, function-level ones included), so the rule holds for
lazy imports too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cosmos3_gym"
#: The data flow, earliest stage first: a folder imports only folders before it (and itself).
LAYERS = (
    "embodiment",
    "tokens",
    "tasks",
    "sim",
    "data",
    "model",
    "training",
    "backends",
    "envs",
    "validation",
    "rl",
)
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of the package."""
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = f.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Package modules one file imports: ``from pkg import sub`` imports the module ``pkg.sub`` where
    that is one, else the names come from ``pkg`` itself."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names}
            found |= (subs & MODULES.keys()) or {node.module}
    # The bare package root is imported before any of its modules anyway; it is not a dependency.
    return {m for m in found if m in MODULES and m != "cosmos3_gym"}


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else None


def test_every_folder_is_a_known_layer() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= {*LAYERS, "assets"}, f"folders outside the data flow: {sorted(folders - set(LAYERS))}"


def test_folders_import_only_earlier_stages() -> None:
    bad = []
    for module, deps in GRAPH.items():
        src = _layer(module)
        if src is None:  # top level (cli, demo, bench, registration) sits above every folder
            continue
        for dep in deps:
            dst = _layer(dep)
            if dst is None:
                bad.append(f"{module} imports the top-level {dep}")
            elif LAYERS.index(dst) > LAYERS.index(src):
                bad.append(f"{module} ({src}) imports {dep} ({dst}), a later stage")
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*path[path.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES}: split it by responsibility)"


def test_benchmarks_import_no_test_code() -> None:
    bad = []
    for f in sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            bad += [f"{f.name} imports {n}" for n in names if n.split(".")[0] in ("tests", "conftest", "pytest")]
    assert not bad, "\n".join(bad)


def test_benchmarks_run_nothing_at_import():
    """A benchmark's work sits behind ``if __name__ == "__main__"``: importing it (a test, a reader) is free."""
    allowed = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign, ast.If)
    bad = []
    for f in sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.parse(f.read_text()).body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            main_guard = isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
            path_setup = isinstance(node, ast.Expr) and "sys.path" in ast.unparse(node)
            if not (
                docstring or path_setup or (isinstance(node, allowed) and not isinstance(node, ast.If)) or main_guard
            ):
                bad.append(f"{f.name}:{node.lineno}: {ast.unparse(node)[:60]}")
    assert not bad, "module-level work in benchmarks:\n" + "\n".join(bad)
