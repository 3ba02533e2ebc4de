"""The documentation cannot rot: every ```python block of every page runs (the blocks of a
page in order, as one script, in a fresh interpreter and an empty directory), and the site
builds with `mkdocs build --strict` (broken links, missing pages or docstrings fail it)."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    return FENCE.findall(page.read_text(encoding="utf-8"))


def test_every_page_is_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert PAGES and all(f" {p.name}" in nav for p in PAGES), [p.name for p in PAGES]


def test_the_pages_that_teach_have_code():
    for name in ("tutorial", "batch_norm", "model_average", "eager", "saving", "visualization", "executor"):
        assert python_blocks(DOCS / f"{name}.md"), name


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.stem)
def test_code_blocks_run(page, tmp_path):
    if page.stem == "onnx":  # the onnx extra: skipped without it, required under CI
        require(
            find_spec("onnx") and find_spec("onnxruntime") and "onnx", "onnx/onnxruntime", "pip install -e '.[onnx]'"
        )
    script = tmp_path / f"{page.stem}_blocks.py"
    script.write_text("\n\n".join(python_blocks(page)), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, f"{page.name}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"


def test_docs_point_nowhere_outside_the_project():
    text = "\n".join(p.read_text(encoding="utf-8") for p in PAGES)
    assert "../shared" not in text and not re.search(r"\bissue \d+", text)


def test_mkdocs_build_strict(tmp_path, requires_mkdocs):
    site = tmp_path / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    # docstrings made it into the reference
    assert "Draw one block of" in api and "Export the part of" in api and "Average the parameters over a window" in api
    assert (site / "batch_norm" / "index.html").exists() and (site / "tutorial" / "index.html").exists()
