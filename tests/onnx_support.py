"""Shared pieces of the ONNX export tests: the optional packages (skipped with the reason on
a machine without them, required under CI, where `.ci/run` installs the `onnx` extra), an
onnxruntime session with warnings surfaced, and the comparison the acceptance asks for."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.conftest import in_ci  # the suite's one rule for what CI must have

TOLERANCE = 1e-5  # relative to the largest magnitude of minigraph's output


def require_onnx() -> tuple[ModuleType, ModuleType]:
    """(onnx, onnxruntime) or skip the calling module (fail it under CI)."""
    try:
        return importlib.import_module("onnx"), importlib.import_module("onnxruntime")
    except ImportError as e:
        message = f"onnx/onnxruntime not installed ({e}); pip install -e '.[onnx]'"
        if in_ci():
            pytest.fail(f"{message}; CI requires them (.ci/run installs the onnx extra)", pytrace=False)
        pytest.skip(message, allow_module_level=True)


def session(path: str, severity: int = 2) -> Any:
    """An onnxruntime CPU session on two threads; `severity` 1 logs info and up to stderr."""
    ort = importlib.import_module("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = severity
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(path: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return session(path).run(None, feeds)


def rel_diff(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| over max |want| (0 for equal arrays; exact for integers)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    if got.size == 0:
        return 0.0
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))


def assert_close(got: np.ndarray, want: np.ndarray, what: str) -> float:
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    d = rel_diff(got, want)
    assert d <= TOLERANCE, f"{what}: relative difference {d:.2e} > {TOLERANCE}"
    return d
