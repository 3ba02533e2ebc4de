"""Shared pieces for op definitions: shape-inference helpers, broadcasting, grad wiring."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError, OpTypeError
from minigraph.ops.channels import ones
from minigraph.registry import GradContext, OpDef, register
from minigraph.types import FLOAT_DTYPES, shape_text

NO_SECOND_ORDER = "a gradient op; second-order gradients are not supported"

Meta = tuple[tuple[int, ...], str]


def same_as(slot: str, out: str = "Out") -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Meta]]:
    """Infer rule: output `out` has the shape and dtype of input `slot`."""

    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Meta]:
        v = ins[slot]
        return {out: (v.shape, v.dtype)}

    return infer


def like_inputs(**out_to_in: str) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Meta]]:
    """Infer rule for grad ops: each output is shaped like a named input (X@GRAD like X)."""

    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Meta]:
        return {o: (ins[i].shape, ins[i].dtype) for o, i in out_to_in.items() if ins.get(i) is not None}

    return infer


def grad_slots(*names: str) -> dict[str, str]:
    """{"X@GRAD": "X", ...} for like_inputs(**...)."""
    return {f"{n}@GRAD": n for n in names}


def require_float(v: Any, what: str = "input") -> None:
    if v.dtype not in FLOAT_DTYPES:
        raise OpTypeError(f"{what} {v.name!r} must be a float tensor, got {v.dtype}")


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """numpy broadcasting over shapes where -1 means unknown."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1 or x == y:
            out.append(x)
        elif x == -1 or y == -1:
            out.append(max(x, y))
        else:
            raise GraphBuildError(f"shapes {shape_text(a)} and {shape_text(b)} do not broadcast")
    return tuple(out)


def align_shape(y_shape: tuple[int, ...], x_ndim: int, axis: int) -> tuple[int, ...]:
    """Paddle's elementwise `axis`: y's dims line up with x's starting at `axis`."""
    if axis == -1 or len(y_shape) == x_ndim:
        return tuple(y_shape)
    if axis < 0 or axis + len(y_shape) > x_ndim:
        raise GraphBuildError(f"axis={axis} does not place a rank-{len(y_shape)} Y inside a rank-{x_ndim} X")
    return tuple(y_shape) + (1,) * (x_ndim - axis - len(y_shape))


def align(y: np.ndarray, x_ndim: int, axis: int) -> np.ndarray:
    if axis == -1 or y.ndim == x_ndim:
        return y
    return y.reshape(y.shape + (1,) * (x_ndim - axis - y.ndim))


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `g` down to `shape` (the inverse of numpy broadcasting)."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    if lead == 1 and g.ndim == 2 and g.dtype.char in "fd" and g.flags.c_contiguous:
        # a bias gradient: column sums of [N, C] as a BLAS matrix-vector product, one pass
        # at memory speed (numpy's axis-0 sum is about twice as slow)
        g = ones(g.shape[0], g.dtype) @ g
    elif lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def norm_axis(axis: int, ndim: int, op: str = "op") -> int:
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise GraphBuildError(f"{op}: axis {axis} is out of range for rank {ndim}")
    return axis % max(ndim, 1)


def simple_grad(
    grad_type: str,
    fwd_inputs: tuple[str, ...] = ("X",),
    fwd_outputs: tuple[str, ...] = (),
    diff_inputs: tuple[str, ...] = ("X",),
    out: str = "Out",
) -> Callable[[Any], None]:
    """The common grad maker: `<grad_type>(fwd inputs, fwd outputs, Out@GRAD) -> X@GRAD...`
    with the op's attrs copied."""

    def grad(g: GradContext) -> None:
        kw: dict[str, Any] = {s: g.input(s) for s in fwd_inputs}
        kw.update({s: g.output(s) for s in fwd_outputs})
        kw[f"{out}@GRAD"] = g.out_grad(out)
        for s in diff_inputs:
            kw[f"{s}@GRAD"] = g.in_grad(s)
        g.emit(grad_type, attrs=g.attrs, **kw)

    return grad


def register_with_grad(
    type: str,
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    kernel: Callable[..., Any],
    infer: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
    grad_kernel: Callable[..., Any],
    attrs: dict[str, Any] | None = None,
    reads: tuple[str, ...] = ("X",),
    reads_outputs: tuple[str, ...] = (),
    diff: tuple[str, ...] = ("X",),
    out: str = "Out",
    grad_infer: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None,
    no_grad_inputs: tuple[str, ...] = (),
) -> None:
    """Register `type` and `<type>_grad` as most ops pair them: the grad op reads the forward
    inputs `reads`, the forward outputs `reads_outputs` and `<out>@GRAD`, and writes
    `<d>@GRAD` for each input in `diff` (each optional when there are several; "X*" marks a
    list input, whose gradients form a list), shaped like those inputs unless `grad_infer`
    says otherwise. A read ending in "?" is an optional input. Both ops carry the same attrs."""
    attrs = attrs or {}
    read_names = tuple(r.rstrip("?") for r in reads)  # "Scale?": an optional forward input
    plain = tuple(d.rstrip("*") for d in diff)
    grads = tuple(f"{p}@GRAD" + ("*" if d.endswith("*") else "") for p, d in zip(plain, diff))
    register(
        OpDef(
            type,
            inputs,
            outputs,
            kernel,
            infer,
            attrs=dict(attrs),
            grad=simple_grad(f"{type}_grad", read_names, reads_outputs, plain, out),
            no_grad_inputs=no_grad_inputs,
        )
    )
    register(
        OpDef(
            f"{type}_grad",
            (*reads, *reads_outputs, f"{out}@GRAD"),
            grads,
            grad_kernel,
            grad_infer or like_inputs(**grad_slots(*plain)),
            attrs=dict(attrs),
            no_grad=NO_SECOND_ORDER,
            optional_outputs=tuple(f"{p}@GRAD" for p in plain) if len(diff) > 1 or diff != plain else (),
        )
    )
