"""The flagship example runs end to end (small setting) and writes all its outputs."""

import os

import numpy as np

import minigraph as mg
from tests.test_example_mlp import load_example


def test_train_digits_small_run_learns_and_writes_outputs(tmp_path, capsys):
    out = tmp_path / "run"
    result = load_example("train_digits").main(["--epochs", "2", "--limit", "400", "--quiet", "--out", str(out)])
    losses = result["history"]["loss"]
    assert losses[1] < losses[0]
    assert result["test_accuracy"] > 0.5
    assert os.path.getsize(result["plot"]) > 1000
    with open(result["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "test accuracy" in capsys.readouterr().out
    # the saved inference model reloads and predicts
    exe = mg.Executor()
    with mg.scope_guard(mg.Scope()):
        program, feeds, fetches = mg.io.load_inference_model(result["model_dir"], exe)
        (probs,) = exe.run(program, feed={feeds[0]: np.zeros((3, 1, 8, 8), "float32")}, fetch_list=fetches)
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
