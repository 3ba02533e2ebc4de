"""The eager training example learns, and its traced program agrees with the eager model."""

import numpy as np

import minigraph as mg
from tests.test_example_mlp import load_example


def test_dygraph_example_traces_and_saves(tmp_path):
    result = load_example("dygraph_train").main(["--epochs", "2", "--limit", "300", "--out", str(tmp_path)])
    assert result["losses"][1] < result["losses"][0]
    assert result["traced_accuracy"] == result["eager_accuracy"] > 0.5
    exe = mg.Executor()
    with mg.scope_guard(mg.Scope()):
        program, feeds, fetches = mg.io.load_inference_model(result["model_dir"], exe)
        (out,) = exe.run(program, feed={feeds[0]: np.zeros((2, 1, 8, 8), "float32")}, fetch_list=fetches)
    assert feeds == ["image"] and out.shape == (2, 10)
