"""Draw a program as a Graphviz graph: `to_dot` builds it, `render` writes .dot plus
SVG/PNG/PDF or a self-contained HTML viewer.

    import minigraph as mg
    mg.viz.render(main, "train_graph", format="svg")   # train_graph.svg and train_graph.dot
"""

from minigraph.viz.dot import to_dot
from minigraph.viz.errors import GraphvizNotFoundError, MissingDependencyError, RenderError, VizError
from minigraph.viz.render import FORMATS, output_paths, render

__all__ = [
    "FORMATS",
    "GraphvizNotFoundError",
    "MissingDependencyError",
    "RenderError",
    "VizError",
    "output_paths",
    "render",
    "to_dot",
]
