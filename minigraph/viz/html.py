"""One self-contained HTML file around a Graphviz SVG: wheel zoom, drag pan, search.

No network access: the SVG, style and script are all inline. `#search=TEXT` in the URL
pre-fills the search box, so a link can point at a node.
"""

from __future__ import annotations

import html

_STYLE = """
html, body { margin: 0; height: 100%; font: 13px Helvetica, Arial, sans-serif; background: #fafafa; }
#mg-bar { position: fixed; top: 0; left: 0; right: 0; height: 38px; display: flex; align-items: center;
  gap: 10px; padding: 0 10px; background: #263238; color: #eceff1; z-index: 1; }
#mg-bar b { font-weight: 600; }
#mg-search { width: 260px; padding: 4px 6px; border: 1px solid #90a4ae; border-radius: 3px; }
#mg-bar button { padding: 3px 10px; }
#mg-hint { color: #90a4ae; margin-left: auto; }
#mg-canvas { position: absolute; top: 38px; left: 0; right: 0; bottom: 0; overflow: hidden; cursor: grab; }
#mg-canvas.mg-dragging { cursor: grabbing; }
#mg-canvas svg { width: 100%; height: 100%; display: block; user-select: none; }
.mg-dim { opacity: 0.25; }
.mg-hit polygon, .mg-hit ellipse, .mg-hit path { stroke: #ff00c8 !important; stroke-width: 4px !important; }
.mg-current polygon, .mg-current ellipse { stroke-dasharray: 6 3; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var XLINK = "http://www.w3.org/1999/xlink";
  var canvas = document.getElementById("mg-canvas");
  var svg = canvas.querySelector("svg");
  var input = document.getElementById("mg-search");
  var status = document.getElementById("mg-status");
  var box = svg.viewBox.baseVal;
  var home = [box.x, box.y, box.width, box.height];
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");

  function view() { var b = svg.viewBox.baseVal; return [b.x, b.y, b.width, b.height]; }
  function setView(v) { svg.setAttribute("viewBox", v.join(" ")); }
  function toGraph(clientX, clientY) {
    var p = svg.createSVGPoint();
    p.x = clientX; p.y = clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }

  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var v = view();
    var f = Math.exp(Math.max(-100, Math.min(100, e.deltaY)) * 0.002);  // > 1 zooms out
    if (v[2] * f < home[2] / 50 || v[2] * f > home[2] * 20) { return; }
    var p = toGraph(e.clientX, e.clientY);
    setView([p.x - (p.x - v[0]) * f, p.y - (p.y - v[1]) * f, v[2] * f, v[3] * f]);
  }, { passive: false });

  var drag = null;
  canvas.addEventListener("mousedown", function (e) {
    if (e.button !== 0) { return; }
    drag = { x: e.clientX, y: e.clientY, v: view(), scale: svg.getScreenCTM().a };
    canvas.classList.add("mg-dragging");
  });
  window.addEventListener("mousemove", function (e) {
    if (!drag) { return; }
    var dx = (e.clientX - drag.x) / drag.scale, dy = (e.clientY - drag.y) / drag.scale;
    setView([drag.v[0] - dx, drag.v[1] - dy, drag.v[2], drag.v[3]]);
  });
  window.addEventListener("mouseup", function () { drag = null; canvas.classList.remove("mg-dragging"); });
  function fit() { setView(home); }
  document.getElementById("mg-fit").addEventListener("click", fit);
  canvas.addEventListener("dblclick", fit);

  var nodes = Array.prototype.slice.call(svg.querySelectorAll("g.node"));
  var edges = Array.prototype.slice.call(svg.querySelectorAll("g.edge"));
  var texts = nodes.map(function (n) {
    var parts = [];
    Array.prototype.forEach.call(n.querySelectorAll("title, text"), function (t) { parts.push(t.textContent); });
    Array.prototype.forEach.call(n.querySelectorAll("a"), function (a) {
      parts.push(a.getAttributeNS(XLINK, "title") || a.getAttribute("xlink:title") || a.getAttribute("title") || "");
    });
    return parts.join("\n").toLowerCase();
  });
  var hits = [], current = -1;

  function search(query) {
    var q = query.trim().toLowerCase();
    hits = [];
    current = -1;
    nodes.forEach(function (n, i) {
      var hit = q !== "" && texts[i].indexOf(q) >= 0;
      n.classList.toggle("mg-hit", hit);
      n.classList.toggle("mg-dim", q !== "" && !hit);
      n.classList.remove("mg-current");
      if (hit) { hits.push(n); }
    });
    edges.forEach(function (e) { e.classList.toggle("mg-dim", q !== ""); });
    status.textContent = q === "" ? "" : hits.length + (hits.length === 1 ? " match" : " matches");
  }

  function showNext() {
    if (!hits.length) { return; }
    if (current >= 0) { hits[current].classList.remove("mg-current"); }
    current = (current + 1) % hits.length;
    var n = hits[current];
    n.classList.add("mg-current");
    var b = n.getBBox();
    var m = svg.getScreenCTM().inverse().multiply(n.getScreenCTM());
    var p = svg.createSVGPoint();
    p.x = b.x + b.width / 2; p.y = b.y + b.height / 2;
    p = p.matrixTransform(m);
    var v = view();
    setView([p.x - v[2] / 2, p.y - v[3] / 2, v[2], v[3]]);
    status.textContent = (current + 1) + " of " + hits.length;
  }

  input.addEventListener("input", function () { search(input.value); });
  input.addEventListener("keydown", function (e) { if (e.key === "Enter") { showNext(); } });
  var m = /[#&]search=([^&]*)/.exec(window.location.hash);
  if (m) { input.value = decodeURIComponent(m[1]); search(input.value); }
  document.documentElement.setAttribute("data-mg-ready", "1");
})();
"""


def html_page(svg: str, title: str = "minigraph") -> str:
    """Wrap Graphviz's SVG output in a standalone viewer page."""
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("html_page: the input holds no <svg> element")
    t = html.escape(title)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{t}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        '<div id="mg-bar"><b>' + t + "</b>"
        '<input id="mg-search" type="search" placeholder="search names, op types, attributes" autocomplete="off">'
        '<span id="mg-status"></span><button id="mg-fit" type="button">Fit</button>'
        '<span id="mg-hint">wheel: zoom &middot; drag: pan &middot; Enter: next match &middot; double-click: fit</span>'
        "</div>\n"
        f'<div id="mg-canvas">\n{svg[start:]}\n</div>\n'
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )
