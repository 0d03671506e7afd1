"""README stays short, its links resolve, and CI runs the test command it gives."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
#: Markdown files whose relative links must resolve.
DOCS = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", ROOT / "benchmarks/results/experiments/README.md"]


def test_readme_is_at_most_265_lines():
    # 250 until issue 23 added "Add your robot" (a wheel user's only guide to their own robot).
    assert len(README.splitlines()) <= 265


def test_relative_links_resolve():
    missing = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" not in target and not (doc.parent / target).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not missing, "links to nothing:\n" + "\n".join(missing)


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(pip install [^\n]*)\n```", README)
    assert len(commands) == 2, "README gives two set-up commands: the demo and the tests"
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text()
