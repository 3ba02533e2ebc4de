"""The kernel backends (minigraph/ops/backend.py): how one is chosen, and that the numba
kernels agree with the numpy ones on every op-table row of an op that has them, to float32
rounding (relative 1e-6) in float32 and tighter in float64."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from minigraph.ops import backend, conv_rows
from minigraph.registry import get_op
from minigraph.testing import differentiable_slots, run_op, static_gradients
from tests.cases import all_cases
from tests.test_ops import COMPILED_OPS, NO_NUMBA

ROWS = [c for c in all_cases() if c.op in COMPILED_OPS]
TOLERANCE = {"float32": 1e-6, "float64": 1e-12}


def _close(got: np.ndarray, want: np.ndarray, dtype: str, what: str) -> None:
    rtol = TOLERANCE[dtype]
    # relative to each value, and to the array's scale for values that cancel to near 0
    atol = rtol * float(np.max(np.abs(want), initial=0.0))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def _outputs(case, dtype):
    return {k: v for k, v in run_op(case, dtype).items() if isinstance(v, np.ndarray)}


@NO_NUMBA
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", ROWS, ids=[c.id for c in ROWS])
def test_numba_forward_agrees_with_numpy(case, dtype):
    with backend.forced("numpy"):
        want = _outputs(case, dtype)
    with backend.forced("numba"):
        got = _outputs(case, dtype)
    assert got.keys() == want.keys()
    for slot in want:
        assert got[slot].dtype == want[slot].dtype
        _close(got[slot], want[slot], dtype, f"{case.id}: {slot}")


GRAD_ROWS = [c for c in ROWS if get_op(c.op).grad is not None and differentiable_slots(c)]


@NO_NUMBA
@pytest.mark.parametrize("case", GRAD_ROWS, ids=[c.id for c in GRAD_ROWS])
def test_numba_gradient_agrees_with_numpy(case):
    with backend.forced("numpy"):
        want = static_gradients(case)
    with backend.forced("numba"):
        got = static_gradients(case)
    for g, w in zip(got, want):
        _close(g, w, "float64", case.id)


CONV_ROWS = [c for c in ROWS if c.op in ("conv2d", "fused_conv2d_add_act")]


@NO_NUMBA
@pytest.mark.parametrize("case", CONV_ROWS, ids=[c.id for c in CONV_ROWS])
def test_chunked_conv_agrees_one_sample_at_a_time(case, monkeypatch):
    """The compiled conv2d works through the batch in chunks of CHUNK_BYTES of patches; the
    tables' inputs fit in one chunk, so run them again with one sample per chunk."""
    monkeypatch.setattr(conv_rows, "CHUNK_BYTES", 1)
    numba_agrees_with_numpy(case)


def numba_agrees_with_numpy(case) -> None:
    """A row's outputs (and its gradients, where the op has them) in float64 on both
    backends, compared to float64 rounding."""
    grads = static_gradients if case.id in {c.id for c in GRAD_ROWS} else lambda case: []
    with backend.forced("numpy"):
        want, want_grads = _outputs(case, "float64"), grads(case)
    with backend.forced("numba"):
        got, got_grads = _outputs(case, "float64"), grads(case)
    for slot in want:
        _close(got[slot], want[slot], "float64", f"{case.id}: {slot}")
    for g, w in zip(got_grads, want_grads):
        _close(g, w, "float64", case.id)


def _run(code: str, **env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k != backend.ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={**full, **env}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


# a batch_norm training step (forward and backward) through the executor, in a fresh process
TRAIN_STEP = """
import numpy as np
import minigraph as mg
from minigraph.testing import check_grad
from tests.cases.norm import CASES
check_grad(next(c for c in CASES if c.id.endswith("grad-batch-NCHW-r4")))
"""


def test_environment_selects_numpy():
    assert _run("import minigraph as mg; print(mg.kernels())", MINIGRAPH_KERNELS="numpy") == "numpy"


def test_default_is_numba_when_importable():
    code = "import importlib.util, minigraph as mg; print(mg.kernels(), bool(importlib.util.find_spec('numba')))"
    assert _run(code) in ("numba True", "numpy False")


def test_without_numba_everything_runs_on_numpy():
    code = "import sys\nsys.modules['numba'] = None  # numba not importable\n" + TRAIN_STEP
    code += "print(mg.kernels(), 'numba' in sys.modules and sys.modules['numba'] is not None)"
    assert _run(code) == "numpy False"
    assert _run(code, MINIGRAPH_KERNELS="numba") == "numpy False"


def test_import_does_not_import_numba():
    code = "import sys\nimport minigraph as mg\nmg.kernels()\nprint('numba' in sys.modules)"
    assert _run(code) == "False"


@NO_NUMBA
def test_cached_kernels_load_without_numba_refresh_and_agree():
    """A process whose kernels all come from the disk cache loads them through
    ops/kernel_cache.py (no registry refresh) and gets numpy's results; compiling a new
    kernel afterwards still works. The first process fills the cache (if the suite has not)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "tests.kernel_cache_check", "--compile-after"],
            capture_output=True, text=True, timeout=300, cwd=root,
            env={k: v for k, v in os.environ.items() if k != backend.ENV},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    filled = runs[1]
    assert filled["rows"] > 200
    assert not filled["refreshed"], "a kernel was compiled, or numba's loader refreshed the registries"
    assert {"_forward_rows_loops", "_chunk_flat_loops", "_max2x2_loops", "_moments_loops"} <= set(filled["loaded"])
    assert filled["compiled"] == 12.0


def test_unknown_backend_is_an_error():
    with pytest.raises(ValueError, match="backend must be one of"):
        backend.use("cuda")


@NO_NUMBA
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_conv_pool_epilogue_propagates_nan_like_numpy(dtype):
    """The compiled pooling epilogue takes a faster path for chunks without NaN; a NaN in the
    input must still come out where the numpy kernels put it."""
    op = get_op("fused_conv2d_add_act")
    attrs = {**op.attrs, "paddings": [1, 1], "pool_2x2": True}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 6, 6)).astype(dtype)
    x[1, 0, 2, 3] = x[2, 1, 5, 5] = np.nan
    w, b = rng.standard_normal((4, 2, 3, 3)).astype(dtype), rng.standard_normal(4).astype(dtype)
    with backend.forced("numpy"):
        (want,) = op.kernel(attrs, x, w, b)
    with backend.forced("numba"):
        (got,) = op.kernel(attrs, x, w, b)
    assert np.isnan(want).sum() > 0 and np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=TOLERANCE[dtype])


@NO_NUMBA
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool_2x2_gradient_is_numpys_bit_for_bit(dtype):
    """The compiled 2x2 max-pool gradient: ties go to the first maximum, the other cells get
    dout * 0 (a negative dout leaves -0.0, a NaN or Inf spreads to the whole window), exactly
    as numpy's kernel computes them."""
    fwd, op = get_op("pool2d"), get_op("pool2d_grad")
    attrs = {**fwd.attrs, "pooling_type": "max", "ksize": [2, 2], "strides": [2, 2]}
    rng = np.random.default_rng(1)
    x = rng.integers(-2, 3, (3, 4, 6, 8)).astype(dtype)  # small integers: many ties
    x[0, 1, 2, 3] = np.nan
    (out,) = fwd.kernel(attrs, x)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dout[1, 2, 0, 1], dout[2, 3, 2, 0] = np.nan, -np.inf
    with backend.forced("numpy"), np.errstate(invalid="ignore"):  # inf * 0
        (want,) = op.kernel(attrs, x, out, dout)
    with backend.forced("numba"):
        (got,) = op.kernel(attrs, x, out, dout)
    assert np.isnan(want).sum() == 4 + 3 and (want == 0).sum() > x.size // 2  # the NaN windows; zeros
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))


@NO_NUMBA
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ignore_index", [-100, 0, 2])
def test_softmax_cross_entropy_rows_agree_with_numpy(dtype, ignore_index):
    """The compiled [N, C] softmax_with_cross_entropy and its gradient: ignored rows (also an
    ignore_index that is a class), a NaN logit, a negative dLoss, against the numpy kernels."""
    fwd, grad = get_op("softmax_with_cross_entropy"), get_op("softmax_with_cross_entropy_grad")
    attrs = {**fwd.attrs, "ignore_index": ignore_index}
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((9, 5)) * 4).astype(dtype)
    logits[4, 2] = np.nan
    label = rng.integers(0, 5, (9, 1))
    label[[1, 6]] = ignore_index if ignore_index >= 0 else -100
    d_loss = rng.standard_normal((9, 1)).astype(dtype)
    results = {}
    for kernels in ("numpy", "numba"):
        with backend.forced(kernels):
            softmax, loss = fwd.kernel(attrs, logits, label)
            (dx,) = grad.kernel({**grad.attrs, **attrs}, label, softmax, d_loss, None)
        results[kernels] = (softmax, loss, dx)
    for got, want in zip(results["numba"], results["numpy"]):
        assert np.array_equal(np.isnan(got), np.isnan(want))
        _close(np.nan_to_num(got), np.nan_to_num(want), dtype, f"ignore_index={ignore_index}")
    ignored = (label[:, 0] == ignore_index).nonzero()[0]
    assert len(ignored) >= 2 and (results["numba"][1][ignored] == 0).all()
    assert np.array_equal(np.signbit(results["numba"][2][ignored]), np.signbit(results["numpy"][2][ignored]))
