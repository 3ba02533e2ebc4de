"""Matrix products: `mul` (fc's flattening product, Paddle's x_num_col_dims/y_num_col_dims)
and `matmul` (batched, with transposes and alpha), with their gradients."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops.buffers import empty
from minigraph.ops.common import (
    NO_SECOND_ORDER,
    broadcast_shape,
    grad_slots,
    like_inputs,
    simple_grad,
    unbroadcast,
)
from minigraph.registry import OpDef, register, wired
from minigraph.types import shape_text

# --- mul: fc's flattening matrix product ---------------------------------------------


def _flat2(shape: tuple[int, ...], k: int) -> tuple[int, int]:
    # math.prod: np.prod costs microseconds a call, and every mul and mul_grad calls this twice
    return math.prod(shape[:k]), math.prod(shape[k:])


def _mul_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, y = ins["X"], ins["Y"]
    kx, ky = attrs["x_num_col_dims"], attrs["y_num_col_dims"]
    if not 0 < kx < max(len(x.shape), 1) + 1 or not 0 < ky < len(y.shape) + 1:
        raise GraphBuildError(f"num_col_dims ({kx}, {ky}) out of range")
    xin, yin = x.shape[kx:], y.shape[:ky]
    if -1 not in xin and -1 not in yin and int(np.prod(xin)) != int(np.prod(yin)):
        raise GraphBuildError(
            f"X's trailing dims {shape_text(xin)} hold {int(np.prod(xin))} values but Y's leading dims "
            f"{shape_text(yin)} hold {int(np.prod(yin))}"
        )
    if x.dtype != y.dtype:
        raise GraphBuildError(f"X is {x.dtype} but Y is {y.dtype}")
    return {"Out": (tuple(x.shape[:kx]) + tuple(y.shape[ky:]), x.dtype)}


def _mm(x2: np.ndarray, y2: np.ndarray) -> np.ndarray:
    """A 2-D matrix product into a recycled buffer."""
    return np.matmul(x2, y2, out=empty((x2.shape[0], y2.shape[1]), np.result_type(x2, y2)))


def _mul(a: dict[str, Any], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray]:
    kx, ky = a["x_num_col_dims"], a["y_num_col_dims"]
    out = _mm(x.reshape(_flat2(x.shape, kx)), y.reshape(_flat2(y.shape, ky)))
    return (out.reshape(x.shape[:kx] + y.shape[ky:]),)


def _mul_grad(a: dict[str, Any], x: np.ndarray, y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray | None, ...]:
    kx, ky = a["x_num_col_dims"], a["y_num_col_dims"]
    x2, y2 = x.reshape(_flat2(x.shape, kx)), y.reshape(_flat2(y.shape, ky))
    d2 = d.reshape(x2.shape[0], y2.shape[1])
    dx = _mm(d2, y2.T).reshape(x.shape) if wired(a, 0) else None
    dy = _mm(x2.T, d2).reshape(y.shape) if wired(a, 1) else None
    return dx, dy


register(
    OpDef(
        "mul",
        ("X", "Y"),
        ("Out",),
        _mul,
        _mul_infer,
        attrs={"x_num_col_dims": 1, "y_num_col_dims": 1},
        grad=simple_grad("mul_grad", ("X", "Y"), diff_inputs=("X", "Y")),
    )
)
register(
    OpDef(
        "mul_grad",
        ("X", "Y", "Out@GRAD"),
        ("X@GRAD", "Y@GRAD"),
        _mul_grad,
        like_inputs(**grad_slots("X", "Y")),
        attrs={"x_num_col_dims": 1, "y_num_col_dims": 1},
        no_grad=NO_SECOND_ORDER,
        optional_outputs=("X@GRAD", "Y@GRAD"),
    )
)

# --- matmul ---------------------------------------------------------------------------


def _matmul_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, y = ins["X"], ins["Y"]
    if x.dtype != y.dtype:
        raise GraphBuildError(f"X is {x.dtype} but Y is {y.dtype}")
    xs, ys = list(x.shape), list(y.shape)
    if not xs or not ys:
        raise GraphBuildError("matmul needs inputs of rank >= 1")
    xs = [1] + xs if len(xs) == 1 else xs
    ys = ys + [1] if len(ys) == 1 else ys
    if attrs["transpose_X"]:
        xs[-1], xs[-2] = xs[-2], xs[-1]
    if attrs["transpose_Y"]:
        ys[-1], ys[-2] = ys[-2], ys[-1]
    if xs[-1] != ys[-2] and -1 not in (xs[-1], ys[-2]):
        raise GraphBuildError(
            f"inner dimensions differ: X {x.name!r} {shape_text(x.shape)} and Y {y.name!r} "
            f"{shape_text(y.shape)} (transpose_X={attrs['transpose_X']}, transpose_Y={attrs['transpose_Y']}) "
            f"multiply {xs[-1]} by {ys[-2]}"
        )
    batch = broadcast_shape(tuple(xs[:-2]), tuple(ys[:-2]))
    out = list(batch) + [xs[-2], ys[-1]]
    if len(x.shape) == 1:
        out.pop(-2)
    if len(y.shape) == 1:
        out.pop(-1)
    return {"Out": (tuple(out), x.dtype)}


def _mt(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def _matmul(a: dict[str, Any], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray]:
    xx = _mt(x) if a["transpose_X"] and x.ndim > 1 else x
    yy = _mt(y) if a["transpose_Y"] and y.ndim > 1 else y
    out = _mm(xx, yy) if xx.ndim == 2 and yy.ndim == 2 else np.matmul(xx, yy)
    if a["alpha"] != 1.0:
        out = out * np.asarray(a["alpha"], out.dtype)
    return (out,)


def _matmul_grad(a: dict[str, Any], x: np.ndarray, y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray | None, ...]:
    if x.ndim == 2 and y.ndim == 2:  # the common case (fc): straight BLAS, unwired outputs skipped
        if a["alpha"] != 1.0:
            d = d * np.asarray(a["alpha"], d.dtype)
        tx, ty = a["transpose_X"], a["transpose_Y"]
        dx = dy = None
        # out = X' @ Y' with X' = X.T if tx else X (same for Y): dX' = d @ Y'.T, dY' = X'.T @ d
        if wired(a, 0):
            dx = _mm(y.T if ty else y, d.T) if tx else _mm(d, y if ty else y.T)
        if wired(a, 1):
            dy = _mm(d.T, x.T if tx else x) if ty else _mm(x if tx else x.T, d)
        return dx, dy
    # Work on at-least-2-D views, then sum away broadcast batch dims.
    x2 = x.reshape(1, -1) if x.ndim == 1 else x
    y2 = y.reshape(-1, 1) if y.ndim == 1 else y
    d2 = d
    if x.ndim == 1:
        d2 = np.expand_dims(d2, -2)
    if y.ndim == 1:
        d2 = np.expand_dims(d2, -1)
    if a["alpha"] != 1.0:
        d2 = d2 * np.asarray(a["alpha"], d2.dtype)
    tx, ty = a["transpose_X"] and x.ndim > 1, a["transpose_Y"] and y.ndim > 1
    xe, ye = (_mt(x2) if tx else x2), (_mt(y2) if ty else y2)
    dx = dy = None
    if wired(a, 0):
        dxe = np.matmul(d2, _mt(ye))
        dx = unbroadcast(_mt(dxe) if tx else dxe, x2.shape).reshape(x.shape)
    if wired(a, 1):
        dye = np.matmul(_mt(xe), d2)
        dy = unbroadcast(_mt(dye) if ty else dye, y2.shape).reshape(y.shape)
    return dx, dy


register(
    OpDef(
        "matmul",
        ("X", "Y"),
        ("Out",),
        _matmul,
        _matmul_infer,
        attrs={"transpose_X": False, "transpose_Y": False, "alpha": 1.0},
        grad=simple_grad("matmul_grad", ("X", "Y"), diff_inputs=("X", "Y")),
    )
)
register(
    OpDef(
        "matmul_grad",
        ("X", "Y", "Out@GRAD"),
        ("X@GRAD", "Y@GRAD"),
        _matmul_grad,
        like_inputs(**grad_slots("X", "Y")),
        attrs={"transpose_X": False, "transpose_Y": False, "alpha": 1.0},
        no_grad=NO_SECOND_ORDER,
        optional_outputs=("X@GRAD", "Y@GRAD"),
    )
)
