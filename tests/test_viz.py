"""minigraph.viz: DOT text (golden), drawing rules, rendering with Graphviz, the HTML viewer."""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import minigraph as mg
from minigraph import viz
from minigraph.ir.block import Block
from minigraph.viz.graph import sanitize
from minigraph.viz.style import batch_norm_mode

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/<name>; MINIGRAPH_UPDATE_GOLDEN=1 rewrites the file."""
    path = GOLDEN / name
    if os.environ.get("MINIGRAPH_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run with MINIGRAPH_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), "golden", "now"))
        pytest.fail(f"DOT text differs from {path} (MINIGRAPH_UPDATE_GOLDEN=1 to accept):\n{diff[:4000]}")


def bn_program(optimizer: bool = True) -> mg.Program:
    """fc -> batch_norm -> mean, with backward and SGD: small, but with in-place updates
    (MeanOut = Mean, VarianceOut = Variance, ParamOut = Param) and all op roles."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3])
        with mg.name_scope("encoder"):
            h = mg.layers.fc(x, 2)
            h = mg.layers.batch_norm(h)
        with mg.name_scope("loss"):
            loss = mg.layers.mean(h)
        if optimizer:
            mg.optimizer.SGD(0.1).minimize(loss)
        else:
            mg.append_backward(loss)
    return main


def mlp_program() -> mg.Program:
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 4])
        label = mg.data("label", [None, 1], dtype="int64")
        h = mg.layers.fc(x, 8, act="relu")
        logits = mg.layers.fc(h, 3)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        mg.optimizer.SGD(0.1).minimize(loss)
    return main


def cnn_program() -> mg.Program:
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 1, 8, 8])
        label = mg.data("label", [None, 1], dtype="int64")
        h = mg.layers.conv2d(x, num_filters=4, filter_size=3, padding=1)
        h = mg.layers.batch_norm(h, act="relu", moving_mean_name="bn_mean", moving_variance_name="bn_var")
        h = mg.layers.pool2d(h, pool_size=2, pool_stride=2)
        logits = mg.layers.fc(h, 10)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        mg.optimizer.Momentum(0.1, momentum=0.9).minimize(loss)
    return main


def edges(source: str) -> list[tuple[str, str]]:
    return re.findall(r"^\s*(\"[^\"]+\"|\S+) -> (\"[^\"]+\"|\S+) \[", source, flags=re.M)


def node_line(source: str, node_id: str) -> str:
    quoted = f'"{node_id}"' if re.search(r"[^A-Za-z0-9_]", node_id) else node_id
    lines = [ln for ln in source.splitlines() if ln.strip().startswith(quoted + " [")]
    assert len(lines) == 1, f"node {node_id} appears {len(lines)} times"
    return lines[0]


# --- DOT text ---------------------------------------------------------------------------
def test_golden_batch_norm_backward_sgd():
    check_golden("bn_sgd.dot", viz.to_dot(bn_program()).source)


def test_golden_forward_only_grouped_and_highlighted():
    dot = viz.to_dot(
        bn_program(),
        show_grad=False,
        show_optimizer=False,
        group_by_namescope=True,
        highlight=["^batch_norm$", r"fc_0\.w_0"],
    )
    check_golden("bn_forward_grouped.dot", dot.source)


def test_same_program_same_dot_text():
    assert viz.to_dot(bn_program()).source == viz.to_dot(bn_program()).source
    assert viz.to_dot(cnn_program()).source == viz.to_dot(cnn_program()).source


def test_node_ids_come_from_names_and_op_positions():
    src = viz.to_dot(bn_program()).source
    assert '"var_fc_0.w_0" [label="fc_0.w_0\\nfloat32[3, 2]"' in src
    assert "op_0_mul [label=mul" in src
    assert "op_2_batch_norm [" in src
    assert sanitize("a:b") != sanitize("a_b") and ":" not in sanitize("a:b")
    assert sanitize('q"x') == "q%22x"


def test_in_place_updates_get_an_updated_node_and_no_cycle():
    src = viz.to_dot(bn_program()).source
    # batch_norm reads the moving mean and writes its new value as a second node
    assert '"var_batch_norm_0.w_1" -> op_2_batch_norm [label=Mean' in src
    assert 'op_2_batch_norm -> "var_batch_norm_0.w_1#1" [label=MeanOut' in src
    assert 'label="batch_norm_0.w_1 (updated)\\nfloat32[2]"' in src
    assert "filled,dashed" in node_line(src, "var_batch_norm_0.w_1#1")
    # sgd: ParamOut = Param
    assert re.search(r'op_\d+_sgd -> "var_fc_0.w_0#1" \[label=ParamOut', src)
    # the edge list is acyclic (topological sort consumes every node)
    es = edges(src)
    succ: dict[str, set[str]] = {}
    indeg: dict[str, int] = {}
    for a, b in es:
        succ.setdefault(a, set()).add(b)
        indeg.setdefault(a, 0)
        indeg[b] = indeg.get(b, 0) + 1
    ready = [n for n, d in indeg.items() if d == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for m in succ.get(n, ()):
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    assert seen == len(indeg), "the drawing has a cycle"


def test_colours_by_role():
    src = viz.to_dot(bn_program()).source
    assert 'fillcolor="#c8e6c9"' in node_line(src, "var_x")  # feed data
    assert 'fillcolor="#148b97"' in node_line(src, "var_fc_0.w_0")  # parameter
    assert 'fillcolor="#c5cae9"' in node_line(src, "var_batch_norm_0.w_1")  # moving statistic: state
    assert 'fillcolor="#c5cae9"' in node_line(src, "var_learning_rate_0")  # optimizer state
    assert 'fillcolor="#f8d7da"' in node_line(src, "var_fc_0.w_0@GRAD")  # gradient
    assert 'fillcolor="#f2f2f2"' in node_line(src, "var_fc_0.tmp_0")  # temporary
    assert 'fillcolor="#303a3a"' in node_line(src, "op_0_mul")  # forward
    assert 'fillcolor="#b71c1c"' in node_line(src, "op_3_mean")  # loss
    assert 'fillcolor="#6a3d9a"' in node_line(src, "op_6_batch_norm_grad")  # backward
    sgd = re.search(r"^\s*(op_\d+_sgd) \[", src, flags=re.M).group(1)
    assert 'fillcolor="#1f5fa8"' in node_line(src, sgd)  # optimizer


def test_batch_norm_mode_in_op_label():
    assert batch_norm_mode({"is_test": False}) == "train (batch stats)"
    assert batch_norm_mode({"is_test": True}) == "test (running stats)"
    assert batch_norm_mode({"is_test": True, "trainable_statistics": True}) == "train (batch stats)"
    assert batch_norm_mode({"is_test": False, "use_global_stats": True}) == "global stats"
    assert batch_norm_mode({"is_test": True, "trainable_statistics": True, "use_global_stats": True}) == "global stats"
    main = bn_program()
    assert 'label="batch_norm\\ntrain (batch stats)"' in viz.to_dot(main).source
    assert 'label="batch_norm\\ntest (running stats)"' in viz.to_dot(main.clone(for_test=True)).source
    prog, startup = mg.Program(), mg.Program()
    with mg.program_guard(prog, startup):
        mg.layers.batch_norm(mg.data("x", [None, 2]), use_global_stats=True)
    assert 'label="batch_norm\\nglobal stats"' in viz.to_dot(prog).source


def test_hide_grad_and_optimizer():
    main = bn_program()
    full = viz.to_dot(main).source
    no_grad = viz.to_dot(main, show_grad=False).source
    assert "_grad" in full and "@GRAD" in full
    assert "batch_norm_grad" not in no_grad and "fill_constant" not in no_grad
    assert not re.search(r"var_\S*@GRAD", no_grad)  # (tooltips still quote the ops' full text)
    assert "sgd" in no_grad  # optimizer ops stay, minus their gradient inputs
    no_opt = viz.to_dot(main, show_optimizer=False).source
    assert "sgd" not in no_opt and "learning_rate_0" not in no_opt and "(updated)" in no_opt  # bn stats
    fwd = viz.to_dot(main, show_grad=False, show_optimizer=False).source
    assert "(9 ops hidden)" in fwd
    assert '"var_fc_0.w_0" [label="fc_0.w_0" ' in viz.to_dot(main, show_shapes=False).source


def test_highlight_by_regex_or_list():
    main = bn_program()
    src = viz.to_dot(main, highlight=r"^batch_norm$").source
    assert 'fillcolor="#ffa500"' in node_line(src, "op_2_batch_norm")
    assert "#ffa500" not in node_line(src, "op_6_batch_norm_grad")  # type is batch_norm_grad
    assert "#ffa500" not in node_line(src, "var_x")
    assert re.search(r'"var_fc_0.tmp_1" -> op_2_batch_norm \[label=X color="#e65100"', src)
    src = viz.to_dot(main, highlight=["fc_0.w_0$", re.compile("^x$")]).source
    assert "#ffa500" in node_line(src, "var_fc_0.w_0") and "#ffa500" in node_line(src, "var_x")
    assert "#ffa500" not in node_line(src, "var_fc_0.w_0@GRAD")
    with pytest.raises(viz.VizError, match="bad regular expression"):
        viz.to_dot(main, highlight="(")


def test_group_by_namescope_makes_clusters():
    src = viz.to_dot(bn_program(), group_by_namescope=True).source
    assert "subgraph cluster_encoder {" in src and "subgraph cluster_loss {" in src
    after = src.split("subgraph cluster_encoder {\n")[1].splitlines()
    encoder = "\n".join(after[: after.index("\t}")])
    assert "op_2_batch_norm" in encoder and '"var_fc_0.w_0"' in encoder  # params sit with their layer
    assert "sgd" not in encoder  # update ops were built outside any name_scope


def test_choose_block():
    main = bn_program(optimizer=False)
    sub = Block(main, 1, 0)
    main.blocks.append(sub)
    sub.append_op("scale", {"X": "fc_0.tmp_0"}, {"Out": sub.create_var("sub_out")}, {"scale": 2.0})
    src = viz.to_dot(main, block_idx=1).source
    assert "op_0_scale" in src and '"var_fc_0.tmp_0"' in src and "batch_norm" not in src
    with pytest.raises(viz.VizError, match="out of range"):
        viz.to_dot(main, block_idx=2)


def test_warns_past_the_size_threshold():
    with pytest.warns(UserWarning, match=r"has \d+ nodes .*max_nodes_warning=5"):
        dot = viz.to_dot(bn_program(), max_nodes_warning=5)
    assert dot.source  # still drawn


def test_to_dot_returns_a_graphviz_digraph():
    import graphviz

    assert isinstance(viz.to_dot(bn_program()), graphviz.Digraph)
    with pytest.raises(viz.VizError):
        viz.to_dot("not a program")


# --- rendering --------------------------------------------------------------------------
def test_output_paths():
    assert viz.output_paths("g") == ("g.svg", "g.dot")
    assert viz.output_paths("out/g.png", "png") == ("out/g.png", "out/g.dot")
    assert viz.output_paths("g.v1", "pdf") == ("g.v1.pdf", "g.v1.dot")
    assert viz.output_paths("g.dot", "dot") == ("g.dot", "g.dot")
    with pytest.raises(viz.VizError, match="unsupported format"):
        viz.output_paths("g", "jpg")


def svg_text(path: str) -> str:
    root = ET.parse(path).getroot()
    return "\n".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))


@pytest.mark.usefixtures("requires_dot")
@pytest.mark.parametrize("build", [mlp_program, cnn_program], ids=["mlp", "cnn"])
def test_render_svg_shows_every_op_and_parameter(tmp_path, build):
    main = build()
    out = viz.render(main, tmp_path / "g", format="svg")
    assert out == str(tmp_path / "g.svg")
    assert (tmp_path / "g.dot").read_text() == viz.to_dot(main).source
    text = svg_text(out)
    for op in main.global_block().ops:
        assert op.type in text
    for p in main.all_parameters():
        assert p.name in text


@pytest.mark.usefixtures("requires_dot")
@pytest.mark.parametrize("build", [mlp_program, cnn_program], ids=["mlp", "cnn"])
def test_render_png(tmp_path, build):
    out = viz.render(build(), tmp_path / "graph.png", format="png")
    data = Path(out).read_bytes()
    assert out.endswith("graph.png") and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a real drawing, not an empty canvas
    assert (tmp_path / "graph.dot").exists()


@pytest.mark.usefixtures("requires_dot")
def test_render_pdf(tmp_path):
    out = viz.render(bn_program(), tmp_path / "g", format="pdf", show_grad=False)
    assert Path(out).read_bytes()[:5] == b"%PDF-"


def test_render_without_dot_writes_dot_and_says_how_to_install(tmp_path, monkeypatch):
    empty = tmp_path / "empty_path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None
    with pytest.raises(viz.GraphvizNotFoundError) as info:
        viz.render(bn_program(), tmp_path / "sub" / "g", format="svg")
    err = info.value
    dot_path = str(tmp_path / "sub" / "g.dot")
    assert isinstance(err, RuntimeError) and isinstance(err, mg.MinigraphError)
    assert err.dot_path == dot_path and dot_path in str(err)
    assert "apt-get install graphviz" in str(err) and "pip" in str(err) and "conda" in str(err)
    assert Path(dot_path).read_text() == viz.to_dot(bn_program()).source
    assert not (tmp_path / "sub" / "g.svg").exists()
    # the .dot format itself never needs Graphviz
    assert viz.render(bn_program(), tmp_path / "h", format="dot") == str(tmp_path / "h.dot")


def test_render_reports_dot_failures(tmp_path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dot").write_text("#!/bin/sh\necho 'Error: syntax error in line 1' >&2\nexit 3\n")
    (fake / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    with pytest.raises(viz.RenderError, match="exit 3.*syntax error"):
        viz.render(bn_program(), tmp_path / "g", format="png")


# --- HTML viewer ------------------------------------------------------------------------
@pytest.mark.usefixtures("requires_dot")
def test_html_is_self_contained(tmp_path):
    out = viz.render(bn_program(), tmp_path / "g", format="html")
    page = Path(out).read_text()
    assert out.endswith("g.html") and page.startswith("<!DOCTYPE html>")
    assert "<svg" in page and "<script>" in page and 'id="mg-search"' in page
    assert "<?xml" not in page
    # no external resources: the only URLs are XML namespace names
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=", page)


# Driven inside the page after the viewer's own script: zoom with the wheel, drag to pan,
# press Enter in the search box; the results land in a data attribute --dump-dom shows.
_PROBE = """<script>
(function () {
  var svg = document.querySelector("#mg-canvas svg"), canvas = document.getElementById("mg-canvas");
  var before = svg.getAttribute("viewBox"), r = svg.getBoundingClientRect();
  svg.dispatchEvent(new WheelEvent("wheel", {deltaY: -120, clientX: r.left + r.width / 2,
                                             clientY: r.top + r.height / 2, bubbles: true, cancelable: true}));
  var zoomed = svg.getAttribute("viewBox");
  canvas.dispatchEvent(new MouseEvent("mousedown", {button: 0, clientX: 100, clientY: 100, bubbles: true}));
  window.dispatchEvent(new MouseEvent("mousemove", {clientX: 160, clientY: 140, bubbles: true}));
  window.dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
  var panned = svg.getAttribute("viewBox");
  var input = document.getElementById("mg-search");
  input.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true}));
  document.body.setAttribute("data-probe", [before, zoomed, panned,
      document.getElementById("mg-status").textContent].join("|"));
})();
</script></body>"""


@pytest.mark.usefixtures("requires_dot")
def test_html_loads_in_chromium_and_search_highlights(tmp_path, requires_chromium):
    out = viz.render(bn_program(), tmp_path / "g", format="html")
    probe = tmp_path / "probe.html"
    probe.write_text(Path(out).read_text().replace("</body>", _PROBE))
    cmd = [
        requires_chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1000,800",
        "--dump-dom",
        probe.as_uri() + "#search=batch_norm_0.w_1",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    dom, log = done.stdout, done.stderr
    assert done.returncode == 0, log[-2000:]
    console = [ln for ln in log.splitlines() if ":CONSOLE" in ln]
    assert not console, console  # the page logs nothing: any console line is an error or stray output
    assert 'data-mg-ready="1"' in dom
    hits = re.findall(r'<g id="[^"]*" class="node mg-hit', dom)
    assert len(hits) >= 2  # batch_norm_0.w_1 and its "(updated)" node (and ops mentioning it)
    assert "mg-dim" in dom  # the rest fades
    before, zoomed, panned, status = re.search(r'data-probe="([^"]*)"', dom).group(1).split("|")
    b, z, p = ([float(v) for v in s.split()] for s in (before, zoomed, panned))
    assert z[2] < b[2] and z[3] < b[3]  # wheel up zooms in
    assert p[2:] == pytest.approx(z[2:]) and p[:2] != pytest.approx(z[:2])  # drag pans
    assert status == f"1 of {len(hits)}"  # Enter jumps to the first match
