"""One self-contained HTML file around a Graphviz SVG: wheel zoom, drag pan, search, a side
panel describing the clicked node, and expandable boxes of training ops.

No network access: the SVG, style, data and script are all inline. `#search=TEXT` in the URL
pre-fills the search box, so a link can point at a node.

- Clicking an op opens a panel with its attributes, its inputs and outputs (dtype and shape)
  and, when the export was given a scope, each persistable input's summary statistics (size,
  min, max, mean, std, NaN/Inf count, a histogram). Clicking a variable shows the same for it.
- A dashed box standing for the backward and optimizer ops of a forward op
  (`collapse_backward`) expands on a click: the drawing of just those ops, laid out by
  Graphviz at export time, opens beside it (another click closes it; "Expand all" opens
  every box). Its ops are clickable too.
"""

from __future__ import annotations

import functools
import html
import json
from importlib import resources
from typing import Any

from minigraph.errors import InvalidArgumentError


# The page's style and script live beside this module as plain files (easier to read and
# lint than Python strings); every page inlines them, so it needs no network.
@functools.cache
def _asset(name: str) -> str:
    return (resources.files("minigraph.viz") / name).read_text(encoding="utf-8")


def _svg_element(svg: str) -> str:
    start = svg.find("<svg")
    if start < 0:
        raise InvalidArgumentError("html_page: the input holds no <svg> element")
    return svg[start:]


def _script_json(data: Any) -> str:
    # "</" would end the <script> element early; JSON allows "<\/" for it.
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")


def html_page(
    svg: str,
    title: str = "minigraph",
    details: dict[str, Any] | None = None,
    insets: dict[str, str] | None = None,
) -> str:
    """Wrap Graphviz's SVG output in a standalone viewer page.

    `details` is what the side panel shows (see `minigraph.viz.details.describe`); `insets`
    maps a group node's id to the SVG of its ops, shown when the group is clicked.
    """
    t = html.escape(title)
    details = details or {"ops": {}, "groups": {}, "varnodes": {}, "vars": {}}
    expand = '<button id="mg-expand" type="button">Expand all</button>' if insets else ""
    templates = "".join(
        f'<template id="mg-inset-{html.escape(key)}">{_svg_element(s)}</template>\n'
        for key, s in (insets or {}).items()
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{t}</title>\n<style>{_asset('viewer.css')}</style>\n</head>\n<body>\n"
        '<div id="mg-bar"><b>' + t + "</b>"
        '<input id="mg-search" type="search" placeholder="search names, op types, attributes" autocomplete="off">'
        '<span id="mg-status"></span><button id="mg-fit" type="button">Fit</button>' + expand + '<span id="mg-hint">'
        "click: details &middot; wheel: zoom &middot; drag: pan &middot; Enter: next match &middot; double-click: fit"
        "</span></div>\n"
        f'<div id="mg-canvas">\n{_svg_element(svg)}\n</div>\n'
        '<aside id="mg-panel" hidden><button id="mg-close" type="button" title="close (Esc)">&times;</button>'
        '<div id="mg-panel-body"></div></aside>\n'
        f"{templates}"
        f'<script type="application/json" id="mg-data">{_script_json(details)}</script>\n'
        f"<script>{_asset('viewer.js')}</script>\n</body>\n</html>\n"
    )
