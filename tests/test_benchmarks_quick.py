"""benchmarks/run.py --quick runs every workload at tiny sizes and checks that minigraph
(static and eager) computes the same numbers as the hand-written numpy references. No timing
is asserted: this only keeps the benchmark from rotting."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_runs_and_agrees_with_numpy(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(results["workloads"]) == {"W1", "W2", "W3", "W4", "W5"}
    for name, r in results["workloads"].items():
        assert r["check"]["ok"], (name, r["check"])
        assert {"numpy", "static"} <= set(r["time"]), name
        assert "static" in r["check"]["max_rel_diff"], name
    assert {"eager"} <= set(results["workloads"]["W3"]["check"]["max_rel_diff"])
    for name in ("W2", "W3", "W4", "W5"):  # the expert numpy agrees with the reference (enforced)
        assert "expert" in results["workloads"][name]["check"]["max_rel_diff"], name
        assert results["workloads"][name]["time"]["expert"]["ratio"] == 1.0, name
    assert "static_nofold" in results["workloads"]["W5"]["time"]
    if importlib.util.find_spec("onnx") and importlib.util.find_spec("onnxruntime"):
        # the exported model in onnxruntime must agree like minigraph itself (enforced)
        assert "onnxruntime" in results["workloads"]["W5"]["check"]["max_rel_diff"]
    # figures are present (their values are not asserted: quick timings are noise)
    assert {"per_op_us", "fixed_us"} <= set(results["workloads"]["W1"]["time"]["static"])
    assert "peak_mib" in results["workloads"]["W3"]["rss"]["static"]
    assert "minigraph_s" in results["import"]
    assert "W3" in results["table"]


def test_first_run_benchmark_times_cold_warm_and_numpy_runs(tmp_path):
    """benchmarks/first_run.py at one epoch on a few samples: three timed fresh processes of
    the flagship (empty numba cache, filled cache, numpy kernels) and the differences."""
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("the flagship needs scikit-learn (pip install -e '.[examples]')")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "first_run.py"), "--runs", "1", "--epochs", "1", "--limit", "64"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    seconds = {}
    for label in ("numba, empty cache", "numba, cache filled", "numpy kernels"):
        (line,) = [x for x in lines if x.strip().startswith(label)]
        seconds[label] = float(line.split(label)[1].split()[0])
        assert 0 < seconds[label] < 240, line
    (first,) = [x for x in lines if x.startswith("first run (compiling) minus numpy kernels:")]
    want = seconds["numba, empty cache"] - seconds["numpy kernels"]
    assert abs(float(first.split(":")[1].split()[0]) - want) < 0.11, first
