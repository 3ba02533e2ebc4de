"""The MLP digits example runs as written and learns."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlp_digits_default_run_reaches_95_percent(capsys):
    result = load_example("mlp_digits").main(["--quiet"])
    losses = result["epoch_losses"]
    assert losses[-1] < losses[0] / 5
    assert result["test_accuracy"] >= 0.95
    assert "test accuracy" in capsys.readouterr().out
