"""The flagship example runs end to end (small setting) and writes all its outputs."""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pytest

import minigraph as mg
from minigraph.viz.details import fmt
from tests.test_example_mlp import load_example

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("train_digits") / "run"
    module = load_example("train_digits")
    result = module.main(["--epochs", "2", "--limit", "400", "--quiet", "--out", str(out)])
    result["out"] = out
    result["net"] = module.build(0.05, 1)  # the same programs, for the expected drawings
    return result


def test_train_digits_small_run_learns_and_writes_outputs(run):
    losses = run["history"]["loss"]
    assert losses[1] < losses[0]
    assert run["test_accuracy"] > 0.5
    assert os.path.getsize(run["plot"]) > 1000
    with open(run["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # the DOT text is written even where Graphviz is missing
    assert (run["out"] / "model_graph.dot").exists() and (run["out"] / "train_graph.dot").exists()
    if shutil.which("dot") is None:
        assert "model_graph" not in run
    # the saved inference model reloads and predicts
    exe = mg.Executor()
    with mg.scope_guard(mg.Scope()):
        program, feeds, fetches = mg.io.load_inference_model(run["model_dir"], exe)
        (probs,) = exe.run(program, feed={feeds[0]: np.zeros((3, 1, 8, 8), "float32")}, fetch_list=fetches)
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_model_graph_svg_is_the_readable_forward_graph(run, requires_dot):
    path = run["model_graph"]
    assert path == str(run["out"] / "model_graph.svg")
    root = ET.parse(path).getroot()
    titles = [t.text for g in root.iter(SVG + "g") if g.get("class") == "node" for t in g.iter(SVG + "title")]
    test_program = run["net"]["test"]
    ops = test_program.global_block().ops
    assert sorted(t for t in titles if t.startswith("op_")) == sorted(f"op_{i}_{op.type}" for i, op in enumerate(ops))
    text = "\n".join(t.text or "" for t in root.iter(SVG + "text"))
    params = [p.name for p in test_program.all_parameters()]
    assert len(params) == 12  # 2 conv filters, 2 x 4 batch_norm tensors (2 of them statistics), fc weight and bias
    for name in params:
        assert name in text  # drawn inside its op's box ...
        assert f"var_{name}" not in titles  # ... not as a node of its own
    assert "backward" not in text and "momentum" not in text  # the test program: forward only
    assert "SavedMean" not in text  # unused outputs are left out
    # readable at 100%: no text under 8 pt, and no sprawling width
    sizes = [float(t.get("font-size")) for t in root.iter(SVG + "text")]
    assert min(sizes) >= 8
    width_pt = float(root.get("width").removesuffix("pt"))
    assert width_pt < 800


def test_train_graph_html_holds_every_training_op_and_the_weights(run, requires_dot):
    path = run["train_graph"]
    assert path == str(run["out"] / "train_graph.html")
    page = open(path, encoding="utf-8").read()
    data = json.loads(re.search(r'<script type="application/json" id="mg-data">(.*?)</script>', page, re.S).group(1))
    main = run["net"]["main"]
    kinds = [mg.viz.style.op_kind(op) for op in main.global_block().ops]
    training = [i for i, k in enumerate(kinds) if k in ("backward", "optimize")]
    assert len(main.global_block().ops) == 47 and len(training) == 33
    # one box per forward op with training ops; together they hold every training op once
    groups = data["groups"]
    assert len(groups) == 12 and all(g["anchor"] for g in groups.values())
    members = sorted(int(o.split()[0][1:]) for g in groups.values() for o in g["ops"])
    assert members == training
    assert len(re.findall(r'<template id="mg-inset-group_\d+">', page)) == 12
    # the panel's statistics are the trained weights of the run (after training; the
    # averaged weights were applied only inside the ModelAverage block)
    stats = data["vars"]["conv2d_0.w_0"]["stats"]
    assert stats["size"] == 144 and stats["shape"] == [16, 1, 3, 3] and sum(stats["hist"]) == 144
    assert float(stats["min"]) <= float(stats["mean"]) <= float(stats["max"])
    assert data["vars"]["batch_norm_0.w_1"]["stats"]["size"] == 16
    assert data["ops"]["op_0_conv2d"]["params"] == ["conv2d_0.w_0"]
    assert fmt(float(stats["std"])) == stats["std"]
