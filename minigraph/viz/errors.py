"""Errors raised by minigraph.viz."""

from __future__ import annotations

from minigraph.errors import MinigraphError

INSTALL_HINT = (
    "Install Graphviz to render it: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
    "(macOS), `conda install -c conda-forge graphviz`, or https://graphviz.org/download/; "
    "`pip install graphviz` installs only the Python bindings, not the `dot` program"
)


class VizError(MinigraphError, ValueError):
    """A bad visualization option: unknown format, block index out of range, bad regex."""


class MissingDependencyError(MinigraphError, ImportError):
    """An optional Python package needed for drawing (the `viz` extra) is not installed."""


class RenderError(MinigraphError, RuntimeError):
    """Graphviz's `dot` failed or timed out; the `.dot` file is still on disk."""

    def __init__(self, message: str, dot_path: str) -> None:
        super().__init__(message)
        self.dot_path = dot_path


class GraphvizNotFoundError(RenderError):
    """The Graphviz `dot` program is not on PATH. The `.dot` text was written anyway
    (see `dot_path`), so it can be rendered elsewhere or viewed with any Graphviz tool."""

    def __init__(self, dot_path: str) -> None:
        super().__init__(
            f"the Graphviz `dot` program was not found on PATH; the graph was written as DOT text to "
            f"{dot_path}. {INSTALL_HINT}.",
            dot_path,
        )
