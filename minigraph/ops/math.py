"""Arithmetic ops: elementwise binaries, clip, scale, sum, cast, assign, fill_constant and friends
(the matrix products are in minigraph/ops/matmul.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops.buffers import MIN_BYTES, empty
from minigraph.ops.common import (
    NO_SECOND_ORDER,
    align,
    align_shape,
    broadcast_shape,
    grad_slots,
    like_inputs,
    register_with_grad,
    same_as,
    unbroadcast,
)
from minigraph.registry import GradContext, OpDef, register, wired
from minigraph.types import constant_misfit, normalize_dtype, shape_text

# --- elementwise binaries -------------------------------------------------------------


def _binary_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, y = ins["X"], ins["Y"]
    if x.dtype != y.dtype:
        raise GraphBuildError(f"X is {x.dtype} but Y is {y.dtype}; cast one of them first")
    y_shape = align_shape(y.shape, len(x.shape), attrs["axis"])
    return {"Out": (broadcast_shape(x.shape, y_shape), x.dtype)}


def _binary_grad_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    return like_inputs(**grad_slots("X", "Y"))(ins, attrs)


def _grad_pair(
    a: dict[str, Any], dx: Any, dy: Any, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Sum each (lazily computed) full-shape gradient down to its input's shape; an unwired
    output (see registry.WIRED) is neither computed nor reduced."""
    gx = gy = None
    if wired(a, 0):
        gx = unbroadcast(dx(), x.shape).astype(x.dtype, copy=False)
    if wired(a, 1):
        ya = align(y, x.ndim, a["axis"])
        gy = unbroadcast(dy(), ya.shape).reshape(y.shape).astype(y.dtype, copy=False)
    return gx, gy


def _d_add(a: dict[str, Any], x: np.ndarray, y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray | None, ...]:
    return _grad_pair(a, lambda: d, lambda: d, x, y)


def _d_sub(a: dict[str, Any], x: np.ndarray, y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray | None, ...]:
    return _grad_pair(a, lambda: d, lambda: -d, x, y)


def _d_mul(a: dict[str, Any], x: np.ndarray, y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray | None, ...]:
    ya = align(y, x.ndim, a["axis"])
    return _grad_pair(a, lambda: d * ya, lambda: d * x, x, y)


def _d_div(a: dict[str, Any], x: np.ndarray, y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray | None, ...]:
    ya = align(y, x.ndim, a["axis"])
    return _grad_pair(a, lambda: d / ya, lambda: -(d / ya) * x / ya, x, y)


def _d_max(a: dict[str, Any], x: np.ndarray, y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray | None, ...]:
    # NOTE: ties send the gradient to X, as Paddle does.
    ya = align(y, x.ndim, a["axis"])
    take_x = x >= ya
    return _grad_pair(a, lambda: d * take_x, lambda: d * ~take_x, x, y)


def _d_min(a: dict[str, Any], x: np.ndarray, y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray | None, ...]:
    ya = align(y, x.ndim, a["axis"])
    take_x = x <= ya
    return _grad_pair(a, lambda: d * take_x, lambda: d * ~take_x, x, y)


def _d_pow(a: dict[str, Any], x: np.ndarray, y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray | None, ...]:
    # NOTE: d/dy x**y = x**y * log(x) is nan for x < 0 (as in Paddle); d/dx is exact everywhere.
    ya = align(y, x.ndim, a["axis"])
    return _grad_pair(a, lambda: d * ya * np.power(x, ya - 1), lambda: d * np.power(x, ya) * np.log(x), x, y)


def _result_shape(xs: tuple[int, ...], ys: tuple[int, ...]) -> tuple[int, ...]:
    """np.broadcast_shapes(xs, ys), answered directly in the common case of Y fitting into X
    (a bias, a per-channel scale), which costs a fraction of the general rule's call."""
    if len(ys) <= len(xs) and all(b in (1, a) for a, b in zip(xs[len(xs) - len(ys) :], ys)):
        return xs
    return np.broadcast_shapes(xs, ys)


def _register_binary(name: str, fn: Any, dfn: Any, shape_only: tuple[str, ...] = ()) -> None:
    op = f"elementwise_{name}"

    def kernel(a: dict[str, Any], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray]:
        yy = y if a["axis"] == -1 else align(y, x.ndim, a["axis"])
        if x.nbytes < MIN_BYTES or x.dtype.kind != "f" or y.dtype != x.dtype:
            return (fn(x, yy),)
        return (fn(x, yy, out=empty(_result_shape(x.shape, yy.shape), x.dtype)),)

    def grad(g: GradContext) -> None:
        g.emit(
            f"{op}_grad",
            X=g.input("X"),
            Y=g.input("Y"),
            **{"Out@GRAD": g.out_grad("Out")},
            **{"X@GRAD": g.in_grad("X"), "Y@GRAD": g.in_grad("Y")},
            attrs=g.attrs,
        )

    # kernel's only pooled allocation is Out, and Out[i] reads X[i] alone where they are the
    # same size (broadcasting never makes Out smaller than X), so Out may take X's buffer
    register(OpDef(op, ("X", "Y"), ("Out",), kernel, _binary_infer, attrs={"axis": -1}, grad=grad, out_may_reuse="X"))
    register(
        OpDef(
            f"{op}_grad",
            ("X", "Y", "Out@GRAD"),
            ("X@GRAD", "Y@GRAD"),
            dfn,
            _binary_grad_infer,
            attrs={"axis": -1},
            no_grad=NO_SECOND_ORDER,
            optional_outputs=("X@GRAD", "Y@GRAD"),
            shape_only_inputs=shape_only,
        )
    )


# the gradients of a sum and a difference need X's and Y's shapes and dtypes, not their values
_register_binary("add", np.add, _d_add, shape_only=("X", "Y"))
_register_binary("sub", np.subtract, _d_sub, shape_only=("X", "Y"))
_register_binary("mul", np.multiply, _d_mul)
_register_binary("div", np.divide, _d_div)
_register_binary("max", np.maximum, _d_max)
_register_binary("min", np.minimum, _d_min)
_register_binary("pow", np.power, _d_pow)

# --- clip ------------------------------------------------------------------------------


def _clip_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    if attrs["min"] > attrs["max"]:
        raise GraphBuildError(f"min {attrs['min']} is larger than max {attrs['max']}")
    return same_as("X")(ins, attrs)


def _clip_grad(a: dict[str, Any], x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    # NOTE: the gradient passes strictly inside (min, max), as in Paddle: 0 at the bounds.
    return (d * ((x > a["min"]) & (x < a["max"])),)


register_with_grad(
    "clip",
    ("X",),
    ("Out",),
    lambda a, x: (np.clip(x, np.asarray(a["min"], x.dtype), np.asarray(a["max"], x.dtype)),),
    _clip_infer,
    _clip_grad,
    attrs={"min": -1.0, "max": 1.0},
)

# --- scale ----------------------------------------------------------------------------


def _scale(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
    s, b = np.asarray(a["scale"], x.dtype), np.asarray(a["bias"], x.dtype)
    return ((x * s + b) if a["bias_after_scale"] else ((x + b) * s),)


register(
    OpDef(
        "scale",
        ("X",),
        ("Out",),
        _scale,
        same_as("X"),
        attrs={"scale": 1.0, "bias": 0.0, "bias_after_scale": True},
        # d/dx (s*x + b) = s: the gradient of a scale is another scale.
        grad=lambda g: g.emit(
            "scale", X=g.out_grad("Out"), Out=g.in_grad("X"), attrs={"scale": g.attr("scale"), "bias": 0.0}
        ),
    )
)

# --- sum (gradient accumulation and regularization) ----------------------------------


def _sum_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    xs = ins["X"]
    if not xs:
        raise GraphBuildError("sum needs at least one input")
    shape = xs[0].shape
    for v in xs[1:]:
        # NOTE: no broadcasting: its gradient (an assign per input) relies on equal shapes.
        same = len(v.shape) == len(shape) and all(a == b or -1 in (a, b) for a, b in zip(v.shape, shape))
        if not same or v.dtype != xs[0].dtype:
            raise GraphBuildError(
                f"all inputs must share one shape and dtype; {xs[0].name!r} is "
                f"{xs[0].dtype}{shape_text(shape)} but {v.name!r} is {v.dtype}{shape_text(v.shape)}"
            )
    return {"Out": (shape, xs[0].dtype)}


def _sum(a: dict[str, Any], xs: list[np.ndarray]) -> tuple[np.ndarray]:
    out = empty(xs[0].shape, xs[0].dtype)
    if len(xs) > 1:
        np.add(xs[0], xs[1], out=out)
    else:
        np.copyto(out, xs[0])
    for x in xs[2:]:
        out += x
    return (out,)


def _sum_grad(g: GradContext) -> None:
    for target in g.in_grad("X"):
        if target is not None:
            g.emit("assign", X=g.out_grad("Out"), Out=target)


register(OpDef("sum", ("X*",), ("Out",), _sum, _sum_infer, grad=_sum_grad))

# --- cast / assign / fill -------------------------------------------------------------


def _cast_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    return {"Out": (ins["X"].shape, normalize_dtype(attrs["out_dtype"]))}


def _cast_grad(g: GradContext) -> None:
    if g.in_grad("X") is not None:
        g.emit(
            "cast",
            X=g.out_grad("Out"),
            Out=g.in_grad("X"),
            attrs={"in_dtype": g.attr("out_dtype"), "out_dtype": g.attr("in_dtype")},
        )


register(
    OpDef(
        "cast",
        ("X",),
        ("Out",),
        lambda a, x: (x.astype(a["out_dtype"]),),
        _cast_infer,
        attrs={"in_dtype": "float32", "out_dtype": "float32"},
        grad=_cast_grad,
    )
)

register(
    OpDef(
        "assign",
        ("X",),
        ("Out",),
        lambda a, x: (x.copy(),),
        same_as("X"),
        grad=lambda g: g.emit("assign", X=g.out_grad("Out"), Out=g.in_grad("X")),
    )
)


def _fill_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    dtype = normalize_dtype(attrs["dtype"])
    misfit = constant_misfit(attrs["value"], dtype)
    if misfit is not None:
        raise GraphBuildError(f"op fill_constant: value {misfit}")
    return {"Out": (tuple(attrs["shape"]), dtype)}


register(
    OpDef(
        "fill_constant",
        (),
        ("Out",),
        lambda a: (np.full(a["shape"], a["value"], dtype=a["dtype"]),),
        _fill_infer,
        attrs={"shape": [], "dtype": "float32", "value": 0.0},
        no_grad="no inputs: a constant",
    )
)


def _fill_like_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["X"]
    return {"Out": (x.shape, normalize_dtype(attrs["dtype"]) if attrs["dtype"] else x.dtype)}


register(
    OpDef(
        "fill_any_like",
        ("X",),
        ("Out",),
        lambda a, x: (np.full(x.shape, a["value"], dtype=a["dtype"] or x.dtype),),
        _fill_like_infer,
        attrs={"value": 0.0, "dtype": ""},
        no_grad="its output does not depend on the input's values",
    )
)
register(
    OpDef(
        "fill_zeros_like",
        ("X",),
        ("Out",),
        lambda a, x: (np.zeros_like(x),),
        same_as("X"),
        no_grad="its output does not depend on the input's values",
    )
)


def _assign_value_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    shape = tuple(attrs["shape"])
    if int(np.prod(shape)) != len(attrs["values"]):
        raise GraphBuildError(
            f"shape {shape_text(shape)} holds {int(np.prod(shape))} values, got {len(attrs['values'])}"
        )
    return {"Out": (shape, normalize_dtype(attrs["dtype"]))}


register(
    OpDef(
        "assign_value",
        (),
        ("Out",),
        lambda a: (np.array(a["values"], dtype=a["dtype"]).reshape(a["shape"]),),
        _assign_value_infer,
        attrs={"shape": [], "dtype": "float32", "values": []},
        no_grad="no inputs: a constant",
    )
)
