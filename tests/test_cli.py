"""The `minigraph` command end to end, through subprocess, on saved models."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigraph as mg
from minigraph.cli import main


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "minigraph.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def build() -> tuple[mg.Program, mg.Program, mg.Variable]:
    main_prog, startup = mg.Program(), mg.Program()
    with mg.program_guard(main_prog, startup):
        x = mg.data("x", [None, 4])
        h = mg.layers.fc(x, 3, act="relu")
        h = mg.layers.batch_norm(h)
        out = mg.layers.fc(h, 2)
        loss = mg.layers.mean(out)
        mg.optimizer.SGD(0.1).minimize(loss)
    return main_prog, startup, out


# fc_0: 4*3 + 3, batch_norm_0: 4 * 3 (scale, bias, mean, variance), fc_1: 3*2 + 2
N_PARAMS = 15 + 12 + 8
N_TRAINABLE = 15 + 6 + 8


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    main_prog, startup, out = build()
    paths = {}
    paths["json"] = d / "train.json"
    with open(paths["json"], "w") as f:
        json.dump(main_prog.to_dict(), f)
    # a directory with model.json + meta.json (the command's own fallback format)
    paths["dir"] = d / "plain_dir"
    paths["dir"].mkdir()
    (paths["dir"] / "model.json").write_text(json.dumps(main_prog.clone(for_test=True).to_dict()))
    (paths["dir"] / "meta.json").write_text(json.dumps({"feed": ["x"], "fetch": [out.name]}))
    scope = mg.Scope()
    exe = mg.Executor()
    with mg.scope_guard(scope):
        exe.run(startup)
        paths["inference"] = d / "inference"
        mg.io.save_inference_model(str(paths["inference"]), ["x"], [out], exe, main_program=main_prog)
    paths["fetch"] = Path(out.name)  # not a path: the fetch name, for the assertions
    return paths


@pytest.mark.usefixtures("requires_dot")
def test_viz_to_svg(models, tmp_path):
    out = tmp_path / "graph.svg"
    done = run("viz", models["json"], "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    svg = out.read_text()
    for name in ("fc_0.w_0", "fc_1.w_0", "batch_norm_0.w_1 (updated)", "batch_norm", "sgd", "mul_grad"):
        assert name in svg
    assert (tmp_path / "graph.dot").exists()


def test_viz_to_dot_with_options(models, tmp_path):
    out = tmp_path / "g.dot"
    done = run(
        "viz", models["json"], "-o", out, "--hide-grad", "--hide-optimizer", "--highlight", "^fc_0", "--block", "0"
    )
    assert done.returncode == 0, done.stderr
    dot = out.read_text()
    assert "mul_grad" not in dot and "sgd" not in dot and "op_0_mul" in dot
    assert '"var_fc_0.w_0" [label="fc_0.w_0\\nfloat32[4, 3]" color="#e65100" fillcolor="#ffa500"' in dot


@pytest.mark.usefixtures("requires_dot")
def test_viz_to_html(models, tmp_path):
    out = tmp_path / "view.html"
    done = run("viz", models["json"], "-o", out, "--group-by-namescope")
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and 'id="mg-search"' in page


def test_summary_of_a_training_program(models):
    done = run("summary", models["json"])
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("block 0 (parent -1):")
    assert "= batch_norm(" in text and "# optimize" in text
    assert f"parameters: {N_PARAMS} in 8 tensor(s) ({N_TRAINABLE} trainable)" in text
    assert "ops: " in text and "backward" in text and "optimizer 6" in text
    assert "feed targets" not in text  # a plain program names no feeds


def test_summary_of_a_model_directory_with_meta(models):
    done = run("summary", models["dir"])
    assert done.returncode == 0, done.stderr
    assert "feed targets: x : float32[-1, 4]" in done.stdout
    assert f"fetch targets: {models['fetch']} : float32[-1, 2]" in done.stdout
    assert "_grad(" not in done.stdout  # the test-mode clone has no backward ops


def test_summary_and_viz_of_an_inference_model(models, tmp_path):
    done = run("summary", models["inference"])
    assert done.returncode == 0, done.stderr
    assert "feed targets: x : float32[-1, 4]" in done.stdout
    assert f"fetch targets: {models['fetch']}" in done.stdout
    assert f"parameters: {N_PARAMS} in 8 tensor(s)" in done.stdout
    done = run("viz", models["inference"], "-o", tmp_path / "inf.dot")
    assert done.returncode == 0, done.stderr
    assert "test (running stats)" in (tmp_path / "inf.dot").read_text()
    # drawing needs no weights: without params.npz the command reads model.json itself
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(models["inference"] / "model.json", bare / "model.json")
    done = run("summary", bare)
    assert done.returncode == 0, done.stderr
    assert "feed targets: x : float32[-1, 4]" in done.stdout


def one_line_error(done: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minigraph: error: "), done.stderr
    assert "Traceback" not in done.stderr
    for f in fragments:
        assert f in lines[0]


def test_bad_paths_and_formats(models, tmp_path):
    one_line_error(run("summary", tmp_path / "missing.json"), 1, "missing.json", "no such file")
    one_line_error(run("viz", tmp_path / "missing", "-o", tmp_path / "g.svg"), 1, "no such file")
    one_line_error(run("viz", models["json"], "-o", tmp_path / "g.jpg"), 2, "'.jpg'", ".svg")
    one_line_error(run("viz", models["json"], "-o", tmp_path / "g"), 2, "no extension", "--format")
    junk = tmp_path / "junk.json"
    junk.write_text("this is not json")
    one_line_error(run("summary", junk), 1, "junk.json", "JSON")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    one_line_error(run("summary", empty), 1, "empty_dir")


def test_usage_errors_in_process(models, tmp_path, capsys):
    # the same one-line contract, checked in-process (cheaper than a subprocess each)
    assert main(["viz", str(models["json"])]) == 2
    assert "required: -o/--output" in capsys.readouterr().err
    assert main(["viz", str(models["json"]), "-o", str(tmp_path / "g.svg"), "--block", "4"]) == 2
    assert "--block 4: the program has 1 block(s)" in capsys.readouterr().err
    assert main(["viz", str(models["json"]), "-o", str(tmp_path / "g.dot"), "--highlight", "("]) == 2
    assert "bad regular expression" in capsys.readouterr().err
    assert main([]) == 2
    assert "choose a command" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice" in err


def test_explicit_format_overrides_the_extension(models, tmp_path):
    assert main(["viz", str(models["json"]), "-o", str(tmp_path / "g"), "--format", "dot"]) == 0
    assert (tmp_path / "g.dot").read_text().startswith("digraph block0 {")


def test_missing_graphviz_is_a_one_line_error(models, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "minigraph.cli", "viz", str(models["json"]), "-o", str(tmp_path / "g.png")],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": str(empty)},
    )
    one_line_error(done, 1, "dot", str(tmp_path / "g.dot"), "apt-get install graphviz")
    assert (tmp_path / "g.dot").exists()


def test_help_documents_everything():
    top = run("--help")
    assert top.returncode == 0 and "viz" in top.stdout and "summary" in top.stdout and "Exit status" in top.stdout
    viz_help = run("viz", "--help").stdout
    for opt in ("-o OUT", "--format", "--hide-grad", "--hide-optimizer", "--highlight REGEX", "--block N", "MODEL"):
        assert opt in viz_help, opt
    assert "svg" in viz_help and "html" in viz_help and "model.json" in viz_help
    assert "parameter count" in run("summary", "--help").stdout


def test_console_script_is_installed(models):
    exe = shutil.which("minigraph") or str(Path(sys.executable).with_name("minigraph"))
    if not Path(exe).exists():
        pytest.skip("the `minigraph` console script is not installed (pip install -e .)")
    done = subprocess.run([exe, "summary", str(models["json"])], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"parameters: {N_PARAMS}" in done.stdout


def test_parameter_count_matches_the_program():
    main_prog, _, _ = build()
    total = sum(int(np.prod(p.shape)) for p in main_prog.all_parameters())
    assert total == N_PARAMS


def test_summary_counts_the_weights_of_a_folded_model(tmp_path):
    """save_inference_model folds batch_norm into the conv before it; the folded weights are
    plain persistables (`<Y>.fold_w`, `<Y>.fold_b`), still the model's parameters."""
    main_prog, startup = mg.Program(), mg.Program()
    with mg.program_guard(main_prog, startup):
        x = mg.data("x", [None, 1, 6, 6])
        h = mg.layers.conv2d(x, num_filters=4, filter_size=3, bias_attr=False)  # 4*1*3*3 = 36
        h = mg.layers.batch_norm(h, act="relu")  # 4 * 4, folded into 36 + 4
        out = mg.layers.fc(h, 2)  # 4*4*4 * 2 + 2 = 130
    exe = mg.Executor()
    with mg.scope_guard(mg.Scope()):
        exe.run(startup)
        mg.io.save_inference_model(str(tmp_path / "m"), ["x"], [out], exe, main_program=main_prog)
        unfolded = tmp_path / "u"
        mg.io.save_inference_model(str(unfolded), ["x"], [out], exe, main_program=main_prog, fold_batch_norm=False)
    done = run("summary", tmp_path / "m")
    assert done.returncode == 0, done.stderr
    assert "batch_norm(" not in done.stdout and ".fold_w" in done.stdout
    assert (
        "parameters: 170 in 4 tensor(s) (130 trainable; 40 in 2 persistable weight(s) without Parameter flags"
        in done.stdout
    )
    done = run("summary", unfolded)
    assert "parameters: 182 in 7 tensor(s) (174 trainable)" in done.stdout  # not trainable: the 8 moving statistics


def test_viz_readable_options(models, tmp_path):
    out = tmp_path / "compact.dot"
    done = run("viz", models["json"], "-o", out, "--inline-params", "--hide-unused", "--collapse-backward")
    assert done.returncode == 0, done.stderr
    dot = out.read_text()
    assert '"var_fc_0.w_0"' not in dot and "fc_0.w_0" in dot  # a row of the mul box, not a node
    assert "mul_grad" in dot and "op_" in dot and not re.search(r"op_\d+_mul_grad \[", dot)  # listed in a box
    assert 'group_0 [label="+ 2 training ops (backward 1, optimizer 1)\\nmul_grad, sgd"' in dot
    assert not re.search(r"var_batch_norm_0\.tmp_\d+.*label=SavedMean", dot)  # unused output left out
