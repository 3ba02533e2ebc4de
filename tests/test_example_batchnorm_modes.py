"""examples/batchnorm_modes.py runs small and reports what it should."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "batchnorm_modes.py"


def _load():
    spec = importlib.util.spec_from_file_location("batchnorm_modes", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("data", ["digits", "synthetic"])
def test_batchnorm_modes_example(data, capsys):
    result = _load().main(["--data", data, "--steps", "40", "--hidden", "16", "--batch-size", "32"])
    out = capsys.readouterr().out
    assert result["clone_equals_separate"] and result["persistables_unchanged"]
    for name, value in result["statistics"].items():
        baseline = 0.0 if name.endswith("mean") else 1.0
        assert np.all(value != baseline), name  # training moved every statistic
    losses = result["losses"]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert result["accuracy"] > 0.3  # ten classes: chance is 0.1
    assert result["modes"]["train"] == [
        "batch_norm_0.tmp_2 (stats bn1.mean): batch statistics (updates running stats)",
        "batch_norm_1.tmp_2 (stats bn2.mean): batch statistics (updates running stats)",
    ]
    assert (
        result["modes"]["clone"]
        == result["modes"]["separate test"]
        == [
            "batch_norm_0.tmp_2 (stats bn1.mean): running statistics (statistics unchanged)",
            "batch_norm_1.tmp_2 (stats bn2.mean): batch statistics (trainable_statistics; running stats unchanged)",
        ]
    )
    assert "clone and separately built test program agree exactly: True" in out
    assert "running statistics (statistics unchanged)" in out
