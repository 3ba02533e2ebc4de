"""Reductions: mean (to a 0-D value), reduce_sum, reduce_mean, reduce_max."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops.common import NO_SECOND_ORDER, grad_slots, like_inputs
from minigraph.registry import GradContext, OpDef, register


def _mean_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    return {"Out": ((), ins["X"].dtype)}


def _mean_kernel(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
    if x.size and x.dtype.char in "fd":
        # what x.mean() computes (the sum, then one division in x's dtype) without numpy's
        # Python-level wrapper: 1 us instead of 3 on a loss vector
        return (np.asarray(np.add.reduce(x, axis=None) / x.size, dtype=x.dtype),)
    return (np.asarray(x.mean(), dtype=x.dtype),)


def _mean_grad_kernel(a: dict[str, Any], x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    return (np.full(x.shape, d / max(x.size, 1), dtype=x.dtype),)


register(
    OpDef(
        "mean",
        ("X",),
        ("Out",),
        _mean_kernel,
        _mean_infer,
        grad=lambda g: g.emit("mean_grad", X=g.input("X"), **{"Out@GRAD": g.out_grad("Out"), "X@GRAD": g.in_grad("X")}),
    )
)
register(
    OpDef(
        "mean_grad",
        ("X", "Out@GRAD"),
        ("X@GRAD",),
        _mean_grad_kernel,
        like_inputs(**grad_slots("X")),
        no_grad=NO_SECOND_ORDER,
    )
)


# --- reduce_sum / reduce_mean / reduce_max ------------------------------------------------
# Paddle's attrs: `dim` (list of axes, negatives allowed), `keep_dim`, `reduce_all`. An empty
# `dim`, or one naming every axis, also means "reduce everything", as in Paddle's kernels.
# A full reduction without keep_dim gives a 0-D result (shape ()), as in Paddle 3.

REDUCE_ATTRS: dict[str, Any] = {"dim": [], "keep_dim": False, "reduce_all": False}


def _axes(attrs: dict[str, Any], ndim: int) -> tuple[int, ...]:
    """The reduced axes, sorted and non-negative; raises GraphBuildError on a bad `dim`."""
    dims = list(attrs["dim"])
    for d in dims:
        if not -ndim <= d < max(ndim, 1):
            raise GraphBuildError(f"dim {d} is out of range for an input of rank {ndim}")
    axes = sorted({d % max(ndim, 1) for d in dims})
    if len(axes) != len(dims):
        raise GraphBuildError(f"dim {dims} names an axis twice")
    if attrs["reduce_all"] or not dims or ndim == 0:
        return tuple(range(ndim))
    return tuple(axes)


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keep_dim: bool) -> tuple[int, ...]:
    if keep_dim:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["X"]
    axes = _axes(attrs, len(x.shape))
    return {"Out": (_reduced_shape(tuple(x.shape), axes, attrs["keep_dim"]), x.dtype)}


def _expand(a: dict[str, Any], x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """`v` (a reduced result or its gradient) reshaped so it broadcasts against `x`."""
    axes = _axes(a, x.ndim)
    return v.reshape(_reduced_shape(x.shape, axes, True)), axes


def _reduce_kernel(fn: Any) -> Any:
    def kernel(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
        axes = _axes(a, x.ndim)
        return (np.asarray(fn(x, axis=axes, keepdims=a["keep_dim"]), dtype=x.dtype),)

    return kernel


def _reduce_sum_grad(a: dict[str, Any], x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    de, _ = _expand(a, x, d)
    return (np.broadcast_to(de, x.shape).astype(x.dtype),)


def _reduce_mean_grad(a: dict[str, Any], x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    de, axes = _expand(a, x, d)
    count = math.prod(x.shape[i] for i in axes)
    return (np.broadcast_to(de / max(count, 1), x.shape).astype(x.dtype),)


def _reduce_max_grad(a: dict[str, Any], x: np.ndarray, out: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    # NOTE: when several elements tie for the max, the gradient is split evenly among them, so
    # the total that flows back equals d (a valid subgradient). Paddle instead gives every
    # tied element the full d. Away from ties both agree.
    de, axes = _expand(a, x, d)
    oe, _ = _expand(a, x, out)
    mask = (x == oe).astype(x.dtype)
    return ((de / mask.sum(axis=axes, keepdims=True)) * mask,)


def _reduce_grad_maker(op: str, needs_out: bool) -> Any:
    def grad(g: GradContext) -> None:
        slots = {"X": g.input("X"), "Out@GRAD": g.out_grad("Out"), "X@GRAD": g.in_grad("X")}
        if needs_out:
            slots["Out"] = g.output("Out")
        g.emit(f"{op}_grad", attrs=g.attrs, **slots)

    return grad


for _op, _fn, _dfn, _needs_out in [
    ("reduce_sum", np.sum, _reduce_sum_grad, False),
    ("reduce_mean", np.mean, _reduce_mean_grad, False),
    ("reduce_max", np.max, _reduce_max_grad, True),
]:
    register(
        OpDef(
            _op,
            ("X",),
            ("Out",),
            _reduce_kernel(_fn),
            _reduce_infer,
            attrs=dict(REDUCE_ATTRS),
            grad=_reduce_grad_maker(_op, _needs_out),
        )
    )
    register(
        OpDef(
            f"{_op}_grad",
            ("X", "Out", "Out@GRAD") if _needs_out else ("X", "Out@GRAD"),
            ("X@GRAD",),
            _dfn,
            like_inputs(**grad_slots("X")),
            attrs=dict(REDUCE_ATTRS),
            no_grad=NO_SECOND_ORDER,
        )
    )
