"""More shape ops: slice, stack, unsqueeze2, squeeze2, expand (tile) and pad.

unsqueeze2 and squeeze2 have Paddle's XShape side output, like reshape2 (minigraph/ops/shape.py),
and share its gradient: a reshape back to X's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops.common import NO_SECOND_ORDER, norm_axis, register_with_grad
from minigraph.ops.shape import _restore_grad_infer, _restore_kernel, _restore_shape_grad, _xshape_meta, _xshape_value
from minigraph.registry import OpDef, register
from minigraph.types import shape_text

# --- slice ---------------------------------------------------------------------------------


def _bounds(start: int, end: int, dim: int) -> tuple[int, int]:
    """Python slicing's clamping: negative bounds count from the end."""
    start, end = (b + dim if b < 0 else b for b in (start, end))
    start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    return start, max(start, end)


def _slice_axes(attrs: dict[str, Any], ndim: int) -> list[int]:
    axes, starts, ends = attrs["axes"], attrs["starts"], attrs["ends"]
    if not len(axes) == len(starts) == len(ends):
        raise GraphBuildError(f"axes {axes}, starts {starts} and ends {ends} must have the same length")
    return [norm_axis(a, ndim, "slice") for a in axes]


def _slice_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["Input"]
    shape = list(x.shape)
    for axis, start, end in zip(_slice_axes(attrs, len(shape)), attrs["starts"], attrs["ends"]):
        if shape[axis] >= 0:
            lo, hi = _bounds(start, end, shape[axis])
            shape[axis] = hi - lo
    for axis in attrs["decrease_axis"]:
        if shape[axis] not in (1, -1):
            raise GraphBuildError(f"decrease_axis {axis} has size {shape[axis]}, not 1")
    out = [d for i, d in enumerate(shape) if i not in attrs["decrease_axis"]]
    return {"Out": (tuple(out), x.dtype)}


def _slice_index(attrs: dict[str, Any], shape: tuple[int, ...]) -> tuple[slice, ...]:
    index = [slice(None)] * len(shape)
    for axis, start, end in zip(_slice_axes(attrs, len(shape)), attrs["starts"], attrs["ends"]):
        index[axis] = slice(*_bounds(start, end, shape[axis]))
    return tuple(index)


def _slice(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
    out = x[_slice_index(a, x.shape)]
    return (out.reshape([d for i, d in enumerate(out.shape) if i not in a["decrease_axis"]]),)


def _slice_grad(a: dict[str, Any], x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    dx = np.zeros_like(x, dtype=d.dtype)
    index = _slice_index(a, x.shape)
    dx[index] = d.reshape(dx[index].shape)
    return (dx,)


register_with_grad(
    "slice",
    ("Input",),
    ("Out",),
    _slice,
    _slice_infer,
    _slice_grad,
    attrs={"axes": [], "starts": [], "ends": [], "decrease_axis": [], "infer_flags": []},
    reads=("Input",),
    diff=("Input",),
)

# --- stack ---------------------------------------------------------------------------------


def _stack_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    xs = ins["X"]
    if not xs:
        raise GraphBuildError("needs at least one input")
    first = xs[0]
    for v in xs[1:]:
        if v.dtype != first.dtype or len(v.shape) != len(first.shape):
            raise GraphBuildError(f"inputs differ: {first.name!r} is {first.dtype}, {v.name!r} is {v.dtype}")
        if any(a >= 0 and b >= 0 and a != b for a, b in zip(first.shape, v.shape)):
            raise GraphBuildError(
                f"inputs differ in shape: {first.name!r} {shape_text(first.shape)}, {v.name!r} {shape_text(v.shape)}"
            )
    axis = norm_axis(attrs["axis"], len(first.shape) + 1, "stack")
    shape = list(first.shape)
    shape.insert(axis, len(xs))
    return {"Y": (tuple(shape), first.dtype)}


def _stack_grad(a: dict[str, Any], d: np.ndarray) -> tuple[list[np.ndarray]]:
    axis = a["axis"] % d.ndim
    return ([np.ascontiguousarray(np.take(d, i, axis=axis)) for i in range(d.shape[axis])],)


def _stack_grad_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    d = ins["Y@GRAD"]
    axis = attrs["axis"] % len(d.shape)
    piece = tuple(s for i, s in enumerate(d.shape) if i != axis)
    return {"X@GRAD": [(piece, d.dtype)] * d.shape[axis]}


register_with_grad(
    "stack",
    ("X*",),
    ("Y",),
    lambda a, xs: (np.stack(xs, axis=a["axis"]),),
    _stack_infer,
    _stack_grad,
    attrs={"axis": 0},
    reads=(),
    diff=("X*",),
    out="Y",
    grad_infer=_stack_grad_infer,
)

# --- unsqueeze2 / squeeze2 -------------------------------------------------------------------


def unsqueezed(shape: tuple[int, ...], axes: list[int]) -> tuple[int, ...]:
    """Insert a 1 at each axis in turn (a negative axis counts from the end of the current shape)."""
    out = list(shape)
    for axis in axes:
        pos = axis + len(out) + 1 if axis < 0 else axis
        if not 0 <= pos <= len(out):
            raise GraphBuildError(f"unsqueeze axis {axis} is out of range for rank {len(out)}")
        out.insert(pos, 1)
    return tuple(out)


def squeezed(shape: tuple[int, ...], axes: list[int]) -> tuple[int, ...]:
    """Drop the size-1 dims among `axes` (all of them when `axes` is empty); a listed dim of
    another size is kept, as in Paddle 2."""
    chosen = {norm_axis(a, len(shape), "squeeze") for a in axes} if axes else set(range(len(shape)))
    return tuple(d for i, d in enumerate(shape) if not (i in chosen and d == 1))


def _register_resize(op: str, resize: Any) -> None:
    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        x = ins["X"]
        return {"Out": (resize(tuple(x.shape), attrs["axes"]), x.dtype), "XShape": _xshape_meta(x)}

    def kernel(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x.reshape(resize(x.shape, a["axes"])), _xshape_value(x)

    attrs = {"axes": []}
    register(
        OpDef(
            op,
            ("X",),
            ("Out", "XShape"),
            kernel,
            infer,
            attrs=dict(attrs),
            grad=_restore_shape_grad(op),
            optional_outputs=("XShape",),
        )
    )
    register(
        OpDef(
            f"{op}_grad",
            ("X?", "XShape?", "Out@GRAD"),
            ("X@GRAD",),
            _restore_kernel,
            _restore_grad_infer,
            attrs=dict(attrs),
            no_grad=NO_SECOND_ORDER,
        )
    )


_register_resize("unsqueeze2", unsqueezed)
_register_resize("squeeze2", squeezed)

# --- expand (tile) ---------------------------------------------------------------------------


def _expand_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, times = ins["X"], attrs["expand_times"]
    if len(times) != len(x.shape) or any(t < 1 for t in times):
        raise GraphBuildError(
            f"expand_times {times} must hold one positive count per dim of {x.name!r} {shape_text(x.shape)}"
        )
    return {"Out": (tuple(d * t if d >= 0 else -1 for d, t in zip(x.shape, times)), x.dtype)}


def _expand_grad(a: dict[str, Any], x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    # [t0*x0, t1*x1, ...] -> [t0, x0, t1, x1, ...], then sum the copies.
    split = [s for pair in zip(a["expand_times"], x.shape) for s in pair]
    return (d.reshape(split).sum(axis=tuple(range(0, 2 * x.ndim, 2))).astype(d.dtype, copy=False),)


register_with_grad(
    "expand",
    ("X",),
    ("Out",),
    lambda a, x: (np.tile(x, a["expand_times"]),),
    _expand_infer,
    _expand_grad,
    attrs={"expand_times": []},
)

# --- pad -------------------------------------------------------------------------------------


def _pairs(a: dict[str, Any], ndim: int) -> list[tuple[int, int]]:
    p = a["paddings"]
    if len(p) != 2 * ndim or any(v < 0 for v in p):
        raise GraphBuildError(f"paddings {p} must hold 2 non-negative values (before, after) per dim ({ndim} dims)")
    return [(p[2 * i], p[2 * i + 1]) for i in range(ndim)]


def _pad_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["X"]
    pairs = _pairs(attrs, len(x.shape))
    return {"Out": (tuple(d + lo + hi if d >= 0 else -1 for d, (lo, hi) in zip(x.shape, pairs)), x.dtype)}


def _pad(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
    return (np.pad(x, _pairs(a, x.ndim), constant_values=np.asarray(a["pad_value"], x.dtype)),)


def _pad_grad(a: dict[str, Any], x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    return (np.ascontiguousarray(d[tuple(slice(lo, lo + n) for (lo, _), n in zip(_pairs(a, x.ndim), x.shape))]),)


register_with_grad("pad", ("X",), ("Out",), _pad, _pad_infer, _pad_grad, attrs={"paddings": [], "pad_value": 0.0})
