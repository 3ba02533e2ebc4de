"""The rule in tests/conftest.py for tests that need a system program, run in a child
pytest with `dot` hidden from PATH; and `import minigraph` with numpy alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_probe_needs_dot(requires_dot):
    """Run by the rule tests below; in the normal suite it just checks the fixture's value."""
    assert os.path.basename(requires_dot) == "dot" and os.access(requires_dot, os.X_OK)


def run_probe(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(empty)  # no `dot` (the interpreter is called by its full path)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", __file__ + "::test_probe_needs_dot"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def test_missing_program_skips_with_the_reason_outside_ci(tmp_path):
    done = run_probe(tmp_path, ci=None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "Graphviz `dot` is not installed (apt-get install graphviz)" in done.stdout


@pytest.mark.parametrize("ci", ["", "0", "false"])
def test_ci_values_that_mean_not_ci(tmp_path, ci):
    done = run_probe(tmp_path, ci=ci)
    assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout


def test_missing_program_fails_under_ci(tmp_path):
    done = run_probe(tmp_path, ci="true")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 error" in done.stdout and "skipped" not in done.stdout
    assert "Graphviz `dot` is not installed" in done.stdout and "CI=true requires it" in done.stdout


def test_import_minigraph_with_numpy_alone():
    """The graphviz bindings are imported only when a graph is drawn; without them drawing
    says which package to install."""
    code = (
        "import sys; sys.modules['graphviz'] = None\n"  # makes `import graphviz` raise ImportError
        "import minigraph as mg\n"
        "p = mg.Program()\n"
        "with mg.program_guard(p, mg.Program()):\n"
        "    mg.layers.relu(mg.data('x', [None, 2]))\n"
        "try:\n"
        "    mg.viz.to_dot(p)\n"
        "except mg.viz.MissingDependencyError as e:\n"
        "    assert isinstance(e, ImportError) and isinstance(e, mg.MinigraphError)\n"
        "    print('drawing:', e)\n"
        "print('graphviz loaded:', sys.modules['graphviz'] is not None)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "graphviz loaded: False" in done.stdout
    assert "pip install 'minigraph[viz]'" in done.stdout
