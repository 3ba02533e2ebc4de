"""One rule for tests that need something pip does not install (Graphviz's `dot`, Chromium)
or an optional Python package (mkdocs; mpi4py and MPICH's mpiexec):

- on a developer's machine without it, the test is skipped, with the reason and how to
  install it;
- under CI (CI set to anything but "", "0" or "false"), where `.ci/run` installs it, the test
  fails instead, so a broken install step can never turn the suite green by skipping.

Use the fixtures: `def test_x(requires_dot): ...` (the fixture's value is the program's
path), or `pytestmark = pytest.mark.usefixtures("requires_dot")` for a whole module.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def require(found: str | None, what: str, install: str) -> str:
    """`found` (a path) if truthy; otherwise skip, or fail under CI."""
    if found:
        return found
    message = f"{what} is not installed ({install})"
    if in_ci():
        pytest.fail(f"{message}; CI={os.environ.get('CI')} requires it (.ci/run installs it)", pytrace=False)
    pytest.skip(message)


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


@pytest.fixture
def requires_dot() -> str:
    """Path of Graphviz's `dot` program."""
    return require(shutil.which("dot"), "Graphviz `dot`", "apt-get install graphviz")


@pytest.fixture
def requires_chromium() -> str:
    """Path of a Chromium (or Chrome) binary for headless browser tests."""
    return require(find_chromium(), "Chromium", "apt-get install chromium")


@pytest.fixture
def requires_mkdocs() -> str:
    """The docs toolchain (mkdocs and mkdocstrings' python handler), from the `docs` extra."""
    found = importlib.util.find_spec("mkdocs") and importlib.util.find_spec("mkdocstrings_handlers")
    return require("mkdocs" if found else None, "mkdocs with mkdocstrings-python", "pip install -e '.[docs]'")


@pytest.fixture(scope="session")
def requires_mpi() -> str:
    """Path of `mpiexec` (the venv's, from MPICH's wheel, else PATH's) with mpi4py importable:
    the `distributed` extra. Session-scoped, so module fixtures that launch jobs come after it."""
    found = None
    if importlib.util.find_spec("mpi4py") is not None:
        here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        found = here if os.access(here, os.X_OK) else shutil.which("mpiexec")
    return require(found, "MPI (mpi4py and mpiexec)", "pip install -e '.[distributed]'")
