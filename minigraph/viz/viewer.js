// The HTML viewer's script (minigraph/viz/html.py inlines it into every page): zoom, pan,
// search, the side panel and the expandable boxes of training ops. No network access.
(function () {
  "use strict";
  var XLINK = "http://www.w3.org/1999/xlink", SVGNS = "http://www.w3.org/2000/svg";
  var canvas = document.getElementById("mg-canvas");
  var svg = canvas.querySelector("svg");
  var input = document.getElementById("mg-search");
  var status = document.getElementById("mg-status");
  var panel = document.getElementById("mg-panel");
  var body = document.getElementById("mg-panel-body");
  var dataEl = document.getElementById("mg-data");
  var data = dataEl ? JSON.parse(dataEl.textContent) : {ops: {}, groups: {}, varnodes: {}, vars: {}};
  var box = svg.viewBox.baseVal;
  var home = [box.x, box.y, box.width, box.height];
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("preserveAspectRatio", "xMidYMin meet");

  function view() { var b = svg.viewBox.baseVal; return [b.x, b.y, b.width, b.height]; }
  function setView(v) { svg.setAttribute("viewBox", v.join(" ")); }
  function toGraph(clientX, clientY) {
    var p = svg.createSVGPoint();
    p.x = clientX; p.y = clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }
  // A drawing too big for the window opens at 100% (1pt = 4/3 px) on its top, not shrunk
  // to illegible; "Fit" (or a double click) shows all of it.
  function start() {
    var w = canvas.clientWidth * 0.75, h = canvas.clientHeight * 0.75;
    if (w > 0 && h > 0 && (w < home[2] || h < home[3])) {
      setView([home[0] + Math.max(0, (home[2] - w) / 2), home[1], w, h]);
    }
  }
  start();

  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var v = view();
    var f = Math.exp(Math.max(-100, Math.min(100, e.deltaY)) * 0.002);  // > 1 zooms out
    if (v[2] * f < home[2] / 50 || v[2] * f > home[2] * 20) { return; }
    var p = toGraph(e.clientX, e.clientY);
    setView([p.x - (p.x - v[0]) * f, p.y - (p.y - v[1]) * f, v[2] * f, v[3] * f]);
  }, { passive: false });

  var drag = null, dragged = false;
  canvas.addEventListener("mousedown", function (e) {
    if (e.button !== 0) { return; }
    drag = { x: e.clientX, y: e.clientY, v: view(), scale: svg.getScreenCTM().a };
    dragged = false;
    canvas.classList.add("mg-dragging");
  });
  window.addEventListener("mousemove", function (e) {
    if (!drag) { return; }
    var dx = (e.clientX - drag.x) / drag.scale, dy = (e.clientY - drag.y) / drag.scale;
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 4) { dragged = true; }
    setView([drag.v[0] - dx, drag.v[1] - dy, drag.v[2], drag.v[3]]);
  });
  window.addEventListener("mouseup", function () { drag = null; canvas.classList.remove("mg-dragging"); });
  function fit() { setView(home); }
  // Opening or closing the panel resizes the canvas; keep the zoom level and the top-left
  // corner where they were instead of letting the drawing shrink or grow.
  function keepScale(change) {
    var s = svg.getScreenCTM().a, v = view();
    change();
    if (canvas.clientWidth > 0 && canvas.clientHeight > 0) {
      setView([v[0], v[1], canvas.clientWidth / s, canvas.clientHeight / s]);
    }
  }
  document.getElementById("mg-fit").addEventListener("click", fit);
  canvas.addEventListener("dblclick", fit);

  // --- search ---------------------------------------------------------------------------
  function allNodes() { return Array.prototype.slice.call(svg.querySelectorAll("g.node")); }
  function nodeText(n) {
    var parts = [];
    Array.prototype.forEach.call(n.querySelectorAll("title, text"), function (t) { parts.push(t.textContent); });
    Array.prototype.forEach.call(n.querySelectorAll("a"), function (a) {
      parts.push(a.getAttributeNS(XLINK, "title") || a.getAttribute("xlink:title") || a.getAttribute("title") || "");
    });
    return parts.join("\n").toLowerCase();
  }
  var hits = [], current = -1;

  function search(query) {
    var q = query.trim().toLowerCase();
    hits = [];
    current = -1;
    allNodes().forEach(function (n) {
      var hit = q !== "" && nodeText(n).indexOf(q) >= 0;
      n.classList.toggle("mg-hit", hit);
      n.classList.toggle("mg-dim", q !== "" && !hit);
      n.classList.remove("mg-current");
      if (hit) { hits.push(n); }
    });
    Array.prototype.forEach.call(svg.querySelectorAll("g.edge"), function (e) {
      e.classList.toggle("mg-dim", q !== "");
    });
    status.textContent = q === "" ? "" : hits.length + (hits.length === 1 ? " match" : " matches");
  }

  function centre(n) {
    var b = n.getBBox();
    var m = svg.getScreenCTM().inverse().multiply(n.getScreenCTM());
    var p = svg.createSVGPoint();
    p.x = b.x + b.width / 2; p.y = b.y + b.height / 2;
    p = p.matrixTransform(m);
    var v = view();
    setView([p.x - v[2] / 2, p.y - v[3] / 2, v[2], v[3]]);
  }

  function showNext() {
    if (!hits.length) { return; }
    if (current >= 0) { hits[current].classList.remove("mg-current"); }
    current = (current + 1) % hits.length;
    hits[current].classList.add("mg-current");
    centre(hits[current]);
    status.textContent = (current + 1) + " of " + hits.length;
  }

  input.addEventListener("input", function () { search(input.value); });
  input.addEventListener("keydown", function (e) { if (e.key === "Enter") { showNext(); } });

  // --- side panel -------------------------------------------------------------------------
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function typeText(name) {
    var v = data.vars[name];
    if (!v || !v.dtype) { return ""; }
    return v.dtype + "[" + v.shape.join(", ") + "]";
  }
  function tag(kind) {
    var labels = {param: "parameter", state: "state", data: "feed", grad: "gradient"};
    return labels[kind] ? el("span", labels[kind], "mg-tag mg-tag-" + kind) : null;
  }
  function table(rows) {
    var t = el("table");
    rows.forEach(function (r) {
      var tr = el("tr");
      r.forEach(function (c) {
        var td = el("td");
        if (c instanceof Node) { td.appendChild(c); } else { td.textContent = c; }
        tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    return t;
  }
  function slotRows(pairs) {
    return pairs.map(function (p) {
      var name = el("span");
      name.appendChild(el("code", p[1]));
      var v = data.vars[p[1]];
      var t = v ? tag(v.kind) : null;
      if (t) { name.appendChild(t); }
      return [p[0], name, typeText(p[1])];
    });
  }
  function histogram(counts) {
    var w = 240, h = 48, n = counts.length, top = Math.max.apply(null, counts.concat([1]));
    var s = document.createElementNS(SVGNS, "svg");
    s.setAttribute("width", w); s.setAttribute("height", h); s.setAttribute("class", "mg-hist");
    counts.forEach(function (c, i) {
      var r = document.createElementNS(SVGNS, "rect"), bh = c ? Math.max(1, h * c / top) : 0;
      r.setAttribute("x", i * w / n + 0.5); r.setAttribute("width", w / n - 1);
      r.setAttribute("y", h - bh); r.setAttribute("height", bh);
      var t = document.createElementNS(SVGNS, "title"); t.textContent = String(c); r.appendChild(t);
      s.appendChild(r);
    });
    return s;
  }
  function statsCard(name) {
    var v = data.vars[name], st = v && v.stats;
    var card = el("div", null, "mg-card");
    card.setAttribute("data-param", name);
    card.appendChild(el("b", name));
    card.appendChild(document.createTextNode(" " + typeText(name)));
    if (!st) { card.appendChild(el("div", "no value (export with a scope to see statistics)", "mg-sub")); return card; }
    var rows = [["size", st.size]];
    ["min", "max", "mean", "std"].forEach(function (k) { if (st[k] !== undefined) { rows.push([k, st[k]]); } });
    if (st.nonfinite) { rows.push(["NaN/Inf", st.nonfinite]); }
    var t = table(rows);
    t.className = "mg-stats";
    Array.prototype.forEach.call(t.querySelectorAll("tr"), function (tr, i) {
      tr.lastChild.setAttribute("data-stat", rows[i][0]);
    });
    card.appendChild(t);
    if (st.hist) {
      card.appendChild(histogram(st.hist));
      card.appendChild(el("div", st.min + " \u2026 " + st.max, "mg-sub"));
    }
    return card;
  }
  function showOp(op) {
    body.appendChild(el("h2", op.type));
    var where = op.scope ? " \u00b7 " + op.scope : "";
    body.appendChild(el("div", "#" + op.index + " \u00b7 " + op.kind + " op" + where, "mg-sub"));
    if (op.attrs.length) { body.appendChild(el("h3", "Attributes")); body.appendChild(table(op.attrs)); }
    body.appendChild(el("h3", "Inputs"));
    body.appendChild(table(slotRows(op.inputs)));
    body.appendChild(el("h3", "Outputs"));
    body.appendChild(table(slotRows(op.outputs)));
    var persist = op.inputs.map(function (p) { return p[1]; }).filter(function (n, i, all) {
      var v = data.vars[n];
      return v && v.persistable && all.indexOf(n) === i;
    });
    if (persist.length) {
      body.appendChild(el("h3", "Parameters and state"));
      persist.forEach(function (n) { body.appendChild(statsCard(n)); });
    }
    body.appendChild(el("h3", "Text form"));
    body.appendChild(el("div", op.text, "mg-code"));
    if (op.callsite) { body.appendChild(el("div", "built at " + op.callsite, "mg-sub")); }
  }
  function showVar(name) {
    var v = data.vars[name] || {};
    body.appendChild(el("h2", name));
    var what = (v.dtype ? typeText(name) + " \u00b7 " : "") + (v.persistable ? "persistable" : "temporary");
    var sub = el("div", what, "mg-sub");
    var t = tag(v.kind); if (t) { sub.appendChild(t); }
    body.appendChild(sub);
    if (v.persistable) { body.appendChild(statsCard(name)); }
  }
  function showGroup(id) {
    var g = data.groups[id];
    body.appendChild(el("h2", "Training ops"));
    var anchor = g.anchor && data.ops[g.anchor];
    var of = anchor ? "of #" + anchor.index + " " + anchor.type : "tied to no forward op";
    body.appendChild(el("div", "backward and optimizer ops " + of, "mg-sub"));
    var ul = el("ul");
    g.ops.forEach(function (o) { ul.appendChild(el("li", o)); });
    body.appendChild(ul);
    var hint = open[id] ? "Shown beside the box; click the box again to close." : "Click the box to show their graph.";
    body.appendChild(el("div", hint, "mg-sub"));
  }
  var selected = null;
  function select(node, key) {
    if (selected) { selected.classList.remove("mg-selected"); }
    selected = node;
    node.classList.add("mg-selected");
    while (body.firstChild) { body.removeChild(body.firstChild); }
    if (data.ops[key]) { showOp(data.ops[key]); }
    else if (data.groups[key]) { showGroup(key); }
    else if (data.varnodes[key] !== undefined) { showVar(data.varnodes[key]); }
    else { body.appendChild(el("h2", key)); }
    if (panel.hidden) {
      keepScale(function () { panel.hidden = false; document.body.classList.add("mg-panel-open"); });
    }
    panel.setAttribute("data-node", key);
  }
  function closePanel() {
    if (!panel.hidden) {
      keepScale(function () { panel.hidden = true; document.body.classList.remove("mg-panel-open"); });
    }
    panel.removeAttribute("data-node");
    if (selected) { selected.classList.remove("mg-selected"); selected = null; }
  }
  document.getElementById("mg-close").addEventListener("click", closePanel);
  window.addEventListener("keydown", function (e) { if (e.key === "Escape") { closePanel(); } });

  // --- expandable groups of training ops ---------------------------------------------------
  var open = {};
  function titleOf(n) { var t = n.querySelector("title"); return t ? t.textContent : ""; }
  function mainNode(key) {
    return allNodes().filter(function (n) { return titleOf(n) === key && !n.closest(".mg-inset"); })[0];
  }
  function toggleGroup(id) {
    if (open[id]) { open[id].parentNode.removeChild(open[id]); delete open[id]; return false; }
    var tpl = document.getElementById("mg-inset-" + id), node = mainNode(id);
    if (!tpl || !node) { return false; }
    var inner = document.importNode(tpl.content.querySelector("svg"), true);
    var vb = inner.viewBox.baseVal, b = node.getBBox();
    var m = svg.getScreenCTM().inverse().multiply(node.getScreenCTM());
    var p = svg.createSVGPoint();
    p.x = b.x + b.width; p.y = b.y;
    p = p.matrixTransform(m);
    var x = p.x + 14, y = p.y - 6, pad = 6, head = 14;
    var g = document.createElementNS(SVGNS, "g");
    g.setAttribute("class", "mg-inset");
    g.setAttribute("data-group", id);
    var frame = document.createElementNS(SVGNS, "rect");
    frame.setAttribute("class", "mg-inset-frame");
    frame.setAttribute("x", x); frame.setAttribute("y", y); frame.setAttribute("rx", 6);
    frame.setAttribute("width", vb.width + 2 * pad); frame.setAttribute("height", vb.height + 2 * pad + head);
    var title = document.createElementNS(SVGNS, "text");
    title.setAttribute("class", "mg-inset-title");
    title.setAttribute("x", x + pad); title.setAttribute("y", y + pad + 9);
    title.textContent = "training ops (click the dashed box again to close)";
    inner.setAttribute("x", x + pad); inner.setAttribute("y", y + pad + head);
    inner.setAttribute("width", vb.width); inner.setAttribute("height", vb.height);
    g.appendChild(frame); g.appendChild(title); g.appendChild(inner);
    svg.appendChild(g);
    open[id] = g;
    return true;
  }
  var expandAll = document.getElementById("mg-expand");
  if (expandAll) {
    expandAll.addEventListener("click", function () {
      var ids = Object.keys(data.groups), anyClosed = ids.some(function (id) { return !open[id]; });
      ids.forEach(function (id) { if (!!open[id] !== anyClosed) { toggleGroup(id); } });
      expandAll.textContent = anyClosed ? "Collapse all" : "Expand all";
    });
  }

  canvas.addEventListener("click", function (e) {
    if (dragged) { dragged = false; return; }
    var node = e.target.closest ? e.target.closest("g.node") : null;
    if (!node) { return; }
    var key = titleOf(node);
    var opened = data.groups[key] && !node.closest(".mg-inset") && toggleGroup(key);
    select(node, key);
    if (opened) { centre(open[key]); }  // bring the new drawing into view
  });

  var m = /[#&]search=([^&]*)/.exec(window.location.hash);
  if (m) { input.value = decodeURIComponent(m[1]); search(input.value); }
  window.minigraphViewer = { select: function (key) { var n = mainNode(key); if (n) { select(n, key); } return !!n; },
                             toggleGroup: toggleGroup, fit: fit };
  document.documentElement.setAttribute("data-mg-ready", "1");
})();
