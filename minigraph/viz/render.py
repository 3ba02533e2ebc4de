"""render: write a program's graph to disk as .dot plus SVG, PNG, PDF or a one-file HTML viewer.

Rendering calls Graphviz's `dot` program directly (found with shutil.which, run with a
timeout), so a missing or hung Graphviz gives a clear error instead of a traceback from deep
inside the bindings. The .dot file is written first, whatever happens next.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

from minigraph.viz.details import describe
from minigraph.viz.dot import graph_model, model_to_dot, to_dot
from minigraph.viz.errors import GraphvizNotFoundError, RenderError, VizError
from minigraph.viz.graph import build_model
from minigraph.viz.html import html_page

FORMATS = ("svg", "png", "pdf", "html", "dot")


def output_paths(path: str | os.PathLike[str], format: str = "svg") -> tuple[str, str]:
    """(output file, .dot file) for `render(program, path, format)`.

    If `path` already ends with ".<format>" it is the output file; otherwise ".<format>" is
    appended. The DOT text goes next to it with ".dot" in place of that extension:
    "g" -> ("g.svg", "g.dot"); "out/g.png" with format="png" -> ("out/g.png", "out/g.dot").
    """
    fmt = _check_format(format)
    p = os.fspath(path)
    base = p[: -len(fmt) - 1] if p.lower().endswith("." + fmt) else p
    if not os.path.basename(base):
        raise VizError(f"render: {p!r} does not name a file")
    return f"{base}.{fmt}", f"{base}.dot"


def render(
    program: Any,
    path: str | os.PathLike[str],
    format: str = "svg",
    *,
    timeout: float = 120.0,
    scope: Any = None,
    **to_dot_options: Any,
) -> str:
    """Draw `program` (see `to_dot` for the options) and write it to disk.

    Always writes the DOT text to `<base>.dot` (see `output_paths`), then, for "svg", "png",
    "pdf" and "html", runs Graphviz's `dot` to render `<base>.<format>`. "html" is one
    self-contained file (the SVG inline, mouse-wheel zoom, drag to pan, a search box that
    highlights matching nodes, no network access); clicking a node opens a panel with its
    attributes, inputs and outputs, and with `scope` (html only) the summary statistics of
    every persistable value found there. With `collapse_backward=True` each box of training
    ops expands on a click into the drawing of those ops. Parent directories are created.
    Returns the path of the file written for `format` (the .dot file for "dot").

    Raises GraphvizNotFoundError (a RuntimeError) when `dot` is not on PATH, after writing
    the .dot file; RenderError when `dot` fails or runs longer than `timeout` seconds.

        mg.viz.render(main, "train_graph", format="svg")   # train_graph.svg + train_graph.dot
        mg.viz.render(main, "train_graph", format="html", scope=mg.global_scope(),
                      inline_params=True, collapse_backward=True)
    """
    out_path, dot_path = output_paths(path, format)
    fmt = _check_format(format)
    source = to_dot(program, **to_dot_options).source
    parent = os.path.dirname(dot_path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(dot_path, "w", encoding="utf-8") as f:
        f.write(source)
    if fmt == "dot":
        return dot_path
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError(dot_path)
    if fmt == "html":
        svg = _run_dot(exe, dot_path, "svg", None, timeout).decode("utf-8")
        page = _html(program, svg, os.path.basename(out_path), exe, dot_path, timeout, scope, to_dot_options)
        with open(out_path, "w", encoding="utf-8") as f:
            f.write(page)
    else:
        _run_dot(exe, dot_path, fmt, out_path, timeout)
    return out_path


def _html(
    program: Any,
    svg: str,
    title: str,
    exe: str,
    dot_path: str,
    timeout: float,
    scope: Any,
    options: dict[str, Any],
) -> str:
    """The viewer page: the main drawing, one inset drawing per box of training ops, and the
    panel's data for every node of all of them."""
    block_idx, model = graph_model(program, **options)
    block = program.blocks[block_idx]
    models = [model]
    insets = {}
    for group in model.groups:
        sub = build_model(
            block,
            highlight=options.get("highlight"),
            inline_params=options.get("inline_params", False),
            only_ops=group.members,
        )
        source = model_to_dot(sub, show_shapes=options.get("show_shapes", True), legend=False).source
        inset = _run_dot(exe, dot_path, "svg", None, timeout, source=source).decode("utf-8")
        # Graphviz numbers its ids node1, edge1, ... in every drawing: keep them unique in the page
        insets[group.id] = re.sub(r'\bid="', f'id="{group.id}-', inset)
        models.append(sub)
    return html_page(svg, title=title, details=describe(block, models, scope), insets=insets)


def _check_format(format: str) -> str:
    fmt = format.lower() if isinstance(format, str) else format
    if fmt not in FORMATS:
        raise VizError(f"render: unsupported format {format!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def _run_dot(
    exe: str, dot_path: str, fmt: str, out_path: str | None, timeout: float, source: str | None = None
) -> bytes:
    """Run `dot` on the file `dot_path`, or on `source` (given on stdin; `dot_path` then
    only names the drawing in error messages)."""
    cmd = [exe, f"-T{fmt}"] + ([dot_path] if source is None else [])
    if out_path is not None:
        cmd += ["-o", out_path]
    stdin = None if source is None else source.encode("utf-8")
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(
            f"Graphviz `dot` did not finish within {timeout:g} s rendering {dot_path}; the graph may be too "
            "large: hide backward/optimizer ops (show_grad=False, show_optimizer=False) or raise timeout",
            dot_path,
        ) from None
    except OSError as e:
        raise RenderError(
            f"could not run Graphviz `dot` ({exe}): {e}; the DOT text is in {dot_path}", dot_path
        ) from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RenderError(
            f"Graphviz `dot -T{fmt}` failed (exit {done.returncode}) on {dot_path}: "
            + (detail[0] if detail else "no message"),
            dot_path,
        )
    return done.stdout
