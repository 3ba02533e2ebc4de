"""benchmarks/run.py --quick runs every workload at tiny sizes and checks that minigraph
(static and eager) computes the same numbers as the hand-written numpy references. No timing
is asserted: this only keeps the benchmark from rotting."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

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
