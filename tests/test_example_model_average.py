"""The ModelAverage example runs small: it learns, the average is real, and the exported
averaged model reloads to exactly the averaged predictions."""

import importlib.util
from pathlib import Path

import numpy as np

from tests.test_io import archive_of

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_average_example_small_run(tmp_path, capsys):
    out = tmp_path / "averaged"
    result = load_example("model_average").main(["--epochs", "2", "--limit", "512", "--out", str(out)])
    assert result["epoch_losses"][-1] < result["epoch_losses"][0]
    assert result["trained_accuracy"] >= 0.75
    assert result["averaged_accuracy"] >= 0.75
    assert result["restored_accuracy"] == result["trained_accuracy"]
    # the averaged weights predict differently from the trained ones, and the reload matches them
    assert not np.array_equal(result["averaged_probs"], result["trained_probs"])
    assert result["reloaded_equal"] and result["reloaded_max_abs_diff"] == 0.0
    ops = result["inference_ops"]
    assert "average_accumulates" not in ops and "momentum" not in ops
    assert not any(op.endswith("_grad") for op in ops)
    assert "batch_norm" in ops
    assert (out / "model.json").is_file() and archive_of(out, "model.json").is_file()
    text = capsys.readouterr().out
    assert "averaged weights" in text and "predictions identical (True)" in text
