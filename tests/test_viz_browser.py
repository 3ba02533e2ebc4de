"""The HTML viewer in headless Chromium, driven like a person would: real mouse clicks
(DevTools protocol over a pipe, tests/browser.py), then reading what the page shows."""

from __future__ import annotations

import json

import numpy as np
import pytest

import minigraph as mg
from minigraph import viz
from minigraph.viz.details import fmt
from tests.browser import Browser

pytestmark = pytest.mark.usefixtures("requires_dot")


def trained_cnn() -> tuple[mg.Program, mg.Scope]:
    """conv -> batch_norm -> relu -> pool -> fc, Momentum, one training step in its own scope."""
    main, startup = mg.Program(), mg.Program()
    startup.random_seed = 3
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 1, 8, 8])
        label = mg.data("label", [None, 1], dtype="int64")
        h = mg.layers.conv2d(x, num_filters=4, filter_size=3, padding=1, bias_attr=False)
        h = mg.layers.batch_norm(h, act="relu")
        h = mg.layers.pool2d(h, pool_size=2, pool_stride=2)
        logits = mg.layers.fc(h, 10)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        mg.optimizer.Momentum(0.1, momentum=0.9).minimize(loss)
    scope = mg.Scope()
    rng = np.random.default_rng(0)
    with mg.scope_guard(scope):
        exe = mg.Executor()
        exe.run(startup)
        exe.run(main, feed={"x": rng.random((6, 1, 8, 8), "float32"), "label": rng.integers(0, 10, (6, 1))})
    return main, scope


def centre_of(b: Browser, selector_js: str) -> list[float]:
    """Viewport centre of the element the JS expression finds (asserting it is on screen)."""
    x, y, w, h, vw, vh = b.eval(
        f"(function () {{ var e = {selector_js}; var r = e.getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height, window.innerWidth, window.innerHeight]; })()"
    )
    assert w > 0 and h > 0 and 0 <= x + w / 2 <= vw and 0 <= y + h / 2 <= vh, (x, y, w, h)
    return [x + w / 2, y + h / 2]


def node(title: str, inset: str | None = None) -> str:
    within = f"document.querySelector('.mg-inset[data-group=\"{inset}\"]')" if inset else "document"
    return (
        f"Array.prototype.filter.call({within}.querySelectorAll('g.node'), function (n) {{"
        f" return n.querySelector('title').textContent === {json.dumps(title)}; }})[0]"
    )


def panel_text(b: Browser) -> str:
    return b.eval("document.getElementById('mg-panel-body').innerText")


def test_click_conv_shows_attributes_and_filter_statistics(tmp_path, requires_chromium):
    main, scope = trained_cnn()
    page = viz.render(
        main, tmp_path / "train_graph", format="html", scope=scope, inline_params=True, collapse_backward=True
    )
    w = np.asarray(scope.find_var("conv2d_0.w_0").get_tensor())
    ops = main.global_block().ops
    grad = next(i for i, op in enumerate(ops) if op.type == "conv2d_grad")
    update = next(i for i, op in enumerate(ops) if op.type == "momentum" and op.input("Param") == ["conv2d_0.w_0"])
    with Browser(requires_chromium, tmp_path) as b:
        b.open((tmp_path / "train_graph.html").as_uri())
        assert b.eval("document.documentElement.getAttribute('data-mg-ready')") == "1"
        assert b.eval("document.getElementById('mg-panel').hidden") is True

        b.click(*centre_of(b, node("op_0_conv2d")))
        assert b.eval("document.getElementById('mg-panel').getAttribute('data-node')") == "op_0_conv2d"
        text = panel_text(b)
        assert text.startswith("conv2d\n#0")
        for line in ("paddings\t[1, 1]", "strides\t[1, 1]", "groups\t1", "data_format\t'NCHW'"):
            assert line in text, line
        assert "Filter\tconv2d_0.w_0" in text and "float32[4, 1, 3, 3]" in text
        assert "Output\tconv2d_0.tmp_0" in text and "float32[-1, 4, 8, 8]" in text
        card = "document.querySelector('#mg-panel [data-param=\"conv2d_0.w_0\"]')"
        stats = b.eval(
            f"(function () {{ var o = {{}}; {card}.querySelectorAll('[data-stat]').forEach(function (td) {{"
            " o[td.getAttribute('data-stat')] = td.textContent; }); return o; })()"
        )
        expected = {"size": "36", "min": fmt(w.min()), "max": fmt(w.max()), "mean": fmt(w.mean()), "std": fmt(w.std())}
        assert stats == expected
        bars = b.eval(
            f"Array.prototype.map.call({card}.querySelectorAll('.mg-hist rect'), function (r) {{"
            " return Number(r.querySelector('title').textContent); })"
        )
        assert len(bars) == 16 and sum(bars) == 36
        assert bars == np.histogram(w.astype(np.float64), bins=16, range=(w.min(), w.max()))[0].tolist()
        b.screenshot(tmp_path / "panel.png")

        # The box of conv2d's training ops expands into their drawing; its ops are clickable.
        b.click(*centre_of(b, node("group_0")))
        assert b.eval("document.querySelectorAll('.mg-inset').length") == 1
        inset_titles = b.eval(
            "Array.prototype.map.call(document.querySelectorAll('.mg-inset g.node title'),"
            " function (t) { return t.textContent; })"
        )
        assert [t for t in inset_titles if t.startswith("op_")] == [f"op_{grad}_conv2d_grad", f"op_{update}_momentum"]
        assert "conv2d_grad" in panel_text(b) and "momentum" in panel_text(b)
        b.click(*centre_of(b, node(f"op_{grad}_conv2d_grad", inset="group_0")))
        text = panel_text(b)
        assert text.startswith(f"conv2d_grad\n#{grad} · backward op")
        assert "Filter@GRAD\tconv2d_0.w_0@GRAD" in text and "float32[4, 1, 3, 3]" in text
        b.screenshot(tmp_path / "inset.png")

        b.click(*centre_of(b, node("group_0")))  # a second click closes it
        assert b.eval("document.querySelectorAll('.mg-inset').length") == 0
        assert b.errors == []
    assert (tmp_path / "panel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.endswith("train_graph.html")
