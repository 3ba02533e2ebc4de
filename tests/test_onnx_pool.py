"""pool2d through ONNX over a sweep of geometries, including the corners where ONNX
Runtime's own ceil_mode rule differs from Paddle's (it drops a last window that starts in
the padding; Paddle keeps it) and count_include_pad with windows past the padded border."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import minigraph as mg
from minigraph.errors import ExportError
from minigraph.onnx import export
from minigraph.ops.spatial import geometry
from minigraph.testing import OpCase, run_op
from tests.onnx_support import assert_close, require_onnx, run

onnx, ort = require_onnx()

rng = np.random.default_rng(5)


def paddle_avg_inclusive(x: np.ndarray, k: int, s: int, p: int, ceil: bool) -> np.ndarray:
    """Paddle's average pooling with exclusive=False, as a direct loop: the divisor is the
    window clipped to the padded input (padding counts, ceil_mode's overhang does not)."""
    n = x.shape[2]
    out = (n + 2 * p - k + (s - 1 if ceil else 0)) // s + 1
    y = np.zeros(x.shape[:2] + (out, out), np.float64)
    for i, j in itertools.product(range(out), range(out)):
        h0, w0 = i * s - p, j * s - p
        count = max(min(h0 + k, n + p) - h0, 0) * max(min(w0 + k, n + p) - w0, 0)
        window = x[:, :, max(h0, 0) : max(min(h0 + k, n), 0), max(w0, 0) : max(min(w0 + k, n), 0)]
        # a window wholly past the padded input averages to 0, as a window of padding does
        y[:, :, i, j] = window.sum(axis=(2, 3)) / max(count, 1)
    return y.astype(x.dtype)


def _every_window_sees_input(n: int, k: int, s: int, p: int, ceil: bool) -> bool:
    g = geometry((n, n), [k, k], [s, s], [1, 1], [p, p], "EXPLICIT", ceil)
    return p < k and (g.out[0] - 1) * s - p < n


# Max pooling over a window without a real element is refused (tested below); average
# pooling is exported everywhere, including windows made of padding (their average is 0).
SWEEP = [
    (n, k, s, p, ceil, kind)
    for n, k, s, p, ceil, kind in itertools.product(
        [4, 5, 6, 7], [2, 3], [1, 2, 3], [0, 1, 2, 3], [False, True], ["max", "avg", "avg_inclusive"]
    )
    if n + 2 * p >= k and (kind != "max" or _every_window_sees_input(n, k, s, p, ceil))
]


def _pool_program(x_shape, attrs):
    main = mg.Program()
    with mg.program_guard(main, mg.Program()):
        x = mg.data("x", x_shape)
        block = main.global_block()
        out = block.create_var("pooled")
        block.append_op("pool2d", {"X": x}, {"Out": out}, attrs)
    return main


@pytest.mark.parametrize("n,k,s,p,ceil,kind", SWEEP)
def test_pool_geometry_matches(n, k, s, p, ceil, kind, tmp_path):
    x = rng.normal(size=(2, 3, n, n)).astype(np.float32)
    attrs = {"pooling_type": "max" if kind == "max" else "avg", "ksize": [k, k], "strides": [s, s]}
    attrs.update(paddings=[p, p], ceil_mode=ceil, exclusive=kind != "avg_inclusive")
    want = run_op(OpCase("pool2d", {"X": x}, attrs))["Out"]
    if kind == "avg_inclusive":
        # the kernel and this direct loop agree on Paddle's divisor rule
        np.testing.assert_allclose(want, paddle_avg_inclusive(x, k, s, p, ceil), rtol=1e-5, atol=1e-6)
    path = export(_pool_program([None, 3, n, n], attrs), tmp_path / "pool.onnx", fetch=["pooled"])
    (got,) = run(path, {"x": x})
    assert_close(got, want, f"pool {kind} n={n} k={k} s={s} p={p} ceil={ceil}")


def test_ceil_mode_sweep_holds_the_corners_onnxruntime_treats_differently():
    # windows starting in the padding (ORT would drop them), and overhang past the border
    def overhang(n, k, s, p):
        return geometry((n, n), [k, k], [s, s], [1, 1], [p, p], "EXPLICIT", True).span(0) - (n + 2 * p)

    corners = [c for c in SWEEP if c[4] and overhang(*c[:4]) > 0]
    assert len(corners) >= 20


def test_nhwc_and_asymmetric_padding(tmp_path):
    x = rng.normal(size=(7, 6, 5, 3)).astype(np.float32)
    attrs = {"pooling_type": "avg", "ksize": [3, 2], "strides": [2, 2], "paddings": [1, 0, 0, 1]}
    attrs.update(ceil_mode=True, data_format="NHWC")
    want = run_op(OpCase("pool2d", {"X": x}, attrs))["Out"]
    path = export(_pool_program([None, 6, 5, 3], attrs), tmp_path / "pool.onnx", fetch=["pooled"])
    (got,) = run(path, {"x": x})
    assert_close(got, want, "NHWC avg ceil")
    (one,) = run(path, {"x": x[:1]})
    assert_close(one, want[:1], "NHWC avg ceil, batch 1")


def test_windows_without_input_and_paddings_past_the_kernel(tmp_path):
    # 4x5 (not square), k2 s3, paddings top 2 / bottom 0 / left 0 / right 3, ceil_mode: the
    # first rows and last columns of windows hold padding only (average 0), ORT refuses
    # such paddings in its own pools; the export spells the average out
    x = rng.normal(size=(3, 2, 4, 5)).astype(np.float32)
    for exclusive in (True, False):
        attrs = {"pooling_type": "avg", "ksize": [2, 2], "strides": [3, 3], "paddings": [2, 0, 0, 3]}
        attrs.update(ceil_mode=True, exclusive=exclusive)
        want = run_op(OpCase("pool2d", {"X": x}, attrs))["Out"]
        assert np.all(want[:, :, 0, :] == 0)  # the first row of windows is all padding
        path = export(_pool_program([None, 2, 4, 5], attrs), tmp_path / "pool.onnx", fetch=["pooled"])
        (got,) = run(path, {"x": x})
        assert_close(got, want, f"exclusive={exclusive}")
    # a bottom padding as large as the kernel that no window reaches into is not passed on
    attrs = {"pooling_type": "max", "ksize": [2, 2], "strides": [3, 3], "paddings": [0, 2, 0, 0]}
    want = run_op(OpCase("pool2d", {"X": x}, attrs))["Out"]
    path = export(_pool_program([None, 2, 4, 5], attrs), tmp_path / "max.onnx", fetch=["pooled"])
    assert_close(run(path, {"x": x})[0], want, "max, bottom padding 2 with kernel 2")


@pytest.mark.parametrize(
    "shape, attrs, words",
    [
        ([None, 1, 4, 4], {"ksize": [2, 2], "strides": [3, 3], "paddings": [1, 1], "ceil_mode": True}, "-inf"),
        ([None, 1, 4, 4], {"ksize": [2, 2], "strides": [1, 1], "paddings": [2, 2]}, "cover no input element"),
        ([None, 1, -1, -1], {"pooling_type": "avg", "ksize": [2, 2], "paddings": [2, 2]}, "known input size"),
    ],
)
def test_pools_onnx_cannot_express_are_refused(shape, attrs, words, tmp_path):
    # 4x4, k2 s3 p1 with ceil_mode: the last window starts at input row 5, past the real
    # rows (0-3); its max would be -inf, built from the padding alone.
    path = tmp_path / "pool.onnx"
    with pytest.raises(ExportError, match=words) as info:
        export(_pool_program(shape, {"pooling_type": "max", **attrs}), path, fetch=["pooled"])
    assert "pool2d" in str(info.value) and "test_onnx_pool.py" in str(info.value)
    assert not path.exists()


def test_onnxruntime_native_ceil_mode_differs_from_paddle_which_is_why_the_export_spells_it_out():
    # 5x5, k2 s2 p1, ceil_mode: Paddle (and minigraph) keep 4x4 windows, ORT's MaxPool 3x3.
    helper, tensor = onnx.helper, onnx.TensorProto
    node = helper.make_node(
        "MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1
    )
    graph = helper.make_graph(
        [node],
        "native",
        [helper.make_tensor_value_info("x", tensor.FLOAT, [1, 1, 5, 5])],
        [helper.make_tensor_value_info("y", tensor.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    x = rng.normal(size=(1, 1, 5, 5)).astype(np.float32)
    (native,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    attrs = {"pooling_type": "max", "ksize": [2, 2], "strides": [2, 2], "paddings": [1, 1], "ceil_mode": True}
    assert native.shape == (1, 1, 3, 3)
    assert run_op(OpCase("pool2d", {"X": x}, attrs))["Out"].shape == (1, 1, 4, 4)
