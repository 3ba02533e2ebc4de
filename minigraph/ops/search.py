"""Ops that search: where (select by a condition) and where_index, arg_max / arg_min,
top_k. Integer outputs have no gradient; where and top_k pass gradients to what they chose.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError, OpTypeError
from minigraph.ops.common import broadcast_shape, norm_axis, register_with_grad, unbroadcast
from minigraph.ops.lookup import INT_DTYPES, INTEGER_OUTPUT
from minigraph.registry import OpDef, register, wired
from minigraph.types import FLOAT_DTYPES, normalize_dtype

# --- where (select) and where_index (coordinates of true elements) ----------------------------


def _where_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    c, x, y = ins["Condition"], ins["X"], ins["Y"]
    if c.dtype != "bool":
        raise OpTypeError(f"where: Condition {c.name!r} must be bool, got {c.dtype}")
    if x.dtype != y.dtype:
        raise GraphBuildError(f"X is {x.dtype} but Y is {y.dtype}; cast one of them first")
    return {"Out": (broadcast_shape(broadcast_shape(c.shape, x.shape), y.shape), x.dtype)}


def _where_grad(
    a: dict[str, Any], c: np.ndarray, x: np.ndarray, y: np.ndarray, d: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    zero = np.zeros((), d.dtype)
    dx = unbroadcast(np.where(c, d, zero), x.shape) if wired(a, 0) else None
    dy = unbroadcast(np.where(c, zero, d), y.shape) if wired(a, 1) else None
    return dx, dy


register_with_grad(
    "where",
    ("Condition", "X", "Y"),
    ("Out",),
    lambda a, c, x, y: (np.where(c, x, y),),
    _where_infer,
    _where_grad,
    reads=("Condition", "X", "Y"),
    diff=("X", "Y"),
    no_grad_inputs=("Condition",),
)


def _where_index_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    c = ins["Condition"]
    if c.dtype != "bool" and c.dtype not in INT_DTYPES and c.dtype not in FLOAT_DTYPES:
        raise OpTypeError(f"where_index: Condition {c.name!r} has unsupported dtype {c.dtype}")
    return {"Out": ((-1, len(c.shape)), "int64")}


register(
    OpDef(
        "where_index",
        ("Condition",),
        ("Out",),
        lambda a, c: (np.argwhere(c).astype(np.int64),),
        _where_index_infer,
        no_grad=INTEGER_OUTPUT,
    )
)

# --- arg_max / arg_min / top_k ----------------------------------------------------------


def _arg_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["X"]
    dtype = normalize_dtype(attrs["dtype"])
    if dtype not in ("int32", "int64"):
        raise GraphBuildError(f"dtype must be int32 or int64, got {dtype}")
    if attrs["flatten"]:
        return {"Out": ((1,) if attrs["keepdims"] else (), dtype)}
    axis = norm_axis(attrs["axis"], len(x.shape), "axis")
    shape = list(x.shape)
    if attrs["keepdims"]:
        shape[axis] = 1
    else:
        del shape[axis]
    return {"Out": (tuple(shape), dtype)}


def _arg(fn: Any) -> Any:
    def kernel(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
        if a["flatten"]:
            out = np.asarray(fn(x.reshape(-1)))
            return ((out.reshape(1) if a["keepdims"] else out).astype(a["dtype"]),)
        # NOTE: ties go to the first index, as numpy's (and Paddle's) argmax/argmin do.
        return (fn(x, axis=a["axis"], keepdims=a["keepdims"]).astype(a["dtype"]),)

    return kernel


ARG_ATTRS = {"axis": -1, "keepdims": False, "flatten": False, "dtype": "int64"}
register(OpDef("arg_max", ("X",), ("Out",), _arg(np.argmax), _arg_infer, attrs=dict(ARG_ATTRS), no_grad=INTEGER_OUTPUT))
register(OpDef("arg_min", ("X",), ("Out",), _arg(np.argmin), _arg_infer, attrs=dict(ARG_ATTRS), no_grad=INTEGER_OUTPUT))


def _top_k_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, k = ins["X"], attrs["k"]
    if not x.shape:
        raise GraphBuildError(f"X {x.name!r} must have at least one dimension")
    if k < 1 or 0 <= x.shape[-1] < k:
        raise GraphBuildError(f"k={k} must be in [1, {x.shape[-1]}] (the last dimension of {x.name!r})")
    shape = (*x.shape[:-1], k)
    return {"Out": (shape, x.dtype), "Indices": (shape, "int64")}


def _top_k(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # A stable sort of -x: the largest first, and among equal values the lower index first.
    idx = np.argsort(-x, axis=-1, kind="stable")[..., : a["k"]].astype(np.int64)
    return np.take_along_axis(x, idx, axis=-1), idx


def _top_k_grad(a: dict[str, Any], x: np.ndarray, idx: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    dx = np.zeros_like(x)
    np.put_along_axis(dx, idx, d, axis=-1)
    return (dx,)


register_with_grad(
    "top_k",
    ("X",),
    ("Out", "Indices"),
    _top_k,
    _top_k_infer,
    _top_k_grad,
    attrs={"k": 1},
    reads_outputs=("Indices",),
)
