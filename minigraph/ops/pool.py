"""pool2d (max and avg) and its gradient: one vectorised op per kernel offset over strided
slices of the padded input."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops import pool_loops
from minigraph.ops.backend import compiled
from minigraph.ops.buffers import empty, scrap, zeros
from minigraph.ops.common import NO_SECOND_ORDER, grad_slots, like_inputs, require_float, simple_grad
from minigraph.ops.spatial import (
    POOL_TYPES,
    Geometry,
    crop,
    geometry,
    kernel_offsets,
    layout_of,
    pad,
    padded_shape,
    spatial_axes,
    spatial_dims,
    with_spatial,
)
from minigraph.registry import OpDef, register
from minigraph.types import shape_text

# --- pool2d -----------------------------------------------------------------------------


def _pool_geometry(attrs: dict[str, Any], x_shape: tuple[int, ...]) -> Geometry:
    in_hw = spatial_dims(x_shape, attrs["data_format"])
    if attrs["global_pooling"]:
        # One window over the whole plane; an unknown size still gives a 1x1 output.
        return Geometry((max(in_hw[0], 1), max(in_hw[1], 1)), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1))
    return geometry(
        in_hw,
        attrs["ksize"],
        attrs["strides"],
        [1, 1],
        attrs["paddings"],
        attrs["padding_algorithm"],
        attrs["ceil_mode"],
    )


def _pool2d_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["X"]
    require_float(x, "X")
    fmt = layout_of(attrs)
    if attrs["pooling_type"] not in POOL_TYPES:
        raise GraphBuildError(f"pooling_type must be one of {POOL_TYPES}, got {attrs['pooling_type']!r}")
    if len(x.shape) != 4:
        raise GraphBuildError(f"X {x.name!r} must be 4-D ({fmt}), got {shape_text(x.shape)}")
    return {"Out": (with_spatial(x.shape, fmt, _pool_geometry(attrs, x.shape).out), x.dtype)}


def _avg_divisor(attrs: dict[str, Any], x_shape: tuple[int, ...], g: Geometry) -> np.ndarray:
    """How many cells each average window divides by, shaped to broadcast against Out.

    With `exclusive`, the window clipped to the real input (padding never counts). Without
    it, the window clipped to the *padded* input: padding cells count, but the cells that
    ceil_mode adds beyond the padded border do not (Paddle's rule, and PyTorch's with
    count_include_pad=True); a window that fits in the padded input counts kh*kw.
    """
    counts = []
    for i, n in enumerate(spatial_dims(x_shape, attrs["data_format"])):
        start = np.arange(g.out[i]) * g.strides[i] - g.pads[2 * i]  # in input coordinates
        if attrs["exclusive"]:
            counts.append(np.minimum(start + g.kernel[i], n) - np.maximum(start, 0))
        else:
            counts.append(np.minimum(start + g.kernel[i], n + g.pads[2 * i + 1]) - start)
    # NOTE: a window lying wholly outside (possible with ceil_mode) counts as 1, so it
    # averages to 0 instead of 0/0.
    div = np.maximum(np.outer(counts[0], counts[1]), 1).astype(np.float64)
    return div if attrs["data_format"] == "NCHW" else div[:, :, None]


def _pool2d(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
    g, axes = _pool_geometry(a, x.shape), spatial_axes(a["data_format"])
    is_max = a["pooling_type"] == "max"
    if a["global_pooling"]:
        return ((x.max(axis=axes, keepdims=True) if is_max else x.mean(axis=axes, keepdims=True)),)
    if a["data_format"] == "NCHW" and compiled():  # the numba backend's loops
        return (pool_loops.pool2d(x, g, is_max, _loop_divisor(a, x.shape, g, is_max)),)
    # NOTE: max pads with -inf, so padding never wins (Paddle's kernel skips padded positions).
    xp = pad(x, axes, g, -np.inf if is_max else 0.0)
    # One vectorised op per kernel offset over strided slices: much faster in numpy than
    # reducing over the two small trailing axes of a window view.
    offsets = kernel_offsets(g, x.ndim, axes)
    combine = np.maximum if is_max else np.add
    first = xp[next(offsets)]
    second = next(offsets, None)
    out = empty(first.shape, x.dtype)
    if second is None:
        np.copyto(out, first)
    else:  # the first two slices straight into Out: one pass fewer than copy-then-combine
        combine(first, xp[second], out=out)
    for idx in offsets:
        combine(out, xp[idx], out=out)
    if not is_max:
        out /= _avg_divisor(a, x.shape, g)
    return (out,)


def _loop_divisor(attrs: dict[str, Any], x_shape: tuple[int, ...], g: Geometry, is_max: bool) -> np.ndarray:
    return np.ones((1, 1)) if is_max else _avg_divisor(attrs, x_shape, g)


def _tiles(g: Geometry, hw: tuple[int, int]) -> bool:
    """Whether the windows tile the input exactly: each element in exactly one window."""
    k, o = g.kernel, g.out
    return g.strides == k and not any(g.pads) and hw == (o[0] * k[0], o[1] * k[1])


def _pool2d_grad(a: dict[str, Any], x: np.ndarray, out: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray]:
    g, axes = _pool_geometry(a, x.shape), spatial_axes(a["data_format"])
    is_max = a["pooling_type"] == "max"
    if a["global_pooling"]:
        return (_global_pool_grad(x, dout, axes, is_max),)
    if a["data_format"] == "NCHW" and compiled():
        return (pool_loops.pool2d_grad(x, out, dout, g, is_max, _loop_divisor(a, x.shape, g, is_max)),)
    if _tiles(g, spatial_dims(x.shape, a["data_format"])):
        return (_tiled_pool_grad(x, out, dout, g, axes, is_max),)
    dxp = zeros(padded_shape(x.shape, axes, g), x.dtype)
    if is_max:
        # NOTE: on ties the whole gradient goes to the first maximum in row-major window
        # order, as in Paddle's kernel (it stops at the first element equal to Out).
        xp = pad(x, axes, g, -np.inf)
        taken = np.zeros(out.shape, dtype=bool)
        for idx in kernel_offsets(g, x.ndim, axes):
            hit = (xp[idx] == out) & ~taken
            dxp[idx] += np.where(hit, dout, 0)
            taken |= hit
    else:
        share = dout / _avg_divisor(a, x.shape, g)
        for idx in kernel_offsets(g, x.ndim, axes):
            dxp[idx] += share
    return (np.ascontiguousarray(crop(dxp, axes, g, spatial_dims(x.shape, a["data_format"]))),)


def _tiled_pool_grad(
    x: np.ndarray, out: np.ndarray, dout: np.ndarray, g: Geometry, axes: tuple[int, int], is_max: bool
) -> np.ndarray:
    """Each input element lies in exactly one window (stride == kernel, no padding), so
    every kernel offset's slice of dX is written once: no zero fill, no accumulation."""
    dx = empty(x.shape, x.dtype)
    if not is_max:
        share = dout / dout.dtype.type(g.kernel[0] * g.kernel[1])
        for idx in kernel_offsets(g, x.ndim, axes):
            dx[idx] = share
        return dx
    # first maximum in row-major window order wins ties, as in the general path
    taken = empty(out.shape, np.bool_)
    hit = empty(out.shape, np.bool_)
    for k, idx in enumerate(kernel_offsets(g, x.ndim, axes)):
        np.equal(x[idx], out, out=hit)
        if k == 0:
            np.copyto(taken, hit)
        else:
            np.greater(hit, taken, out=hit)  # hit and not taken
            taken |= hit
        np.multiply(dout, hit, out=dx[idx])
    scrap(hit)
    scrap(taken)
    return dx


def _global_pool_grad(x: np.ndarray, dout: np.ndarray, axes: tuple[int, int], is_max: bool) -> np.ndarray:
    h, w = x.shape[axes[0]], x.shape[axes[1]]
    if not is_max:
        return np.ascontiguousarray(np.broadcast_to(dout / (h * w), x.shape), dtype=x.dtype)
    # the first maximum of each plane in row-major order, as for windowed max pooling
    planes = np.moveaxis(x, axes, (-2, -1)).reshape(*np.delete(x.shape, axes), h * w)
    first = planes.argmax(axis=-1)[..., None]
    dplanes = np.zeros_like(planes)
    np.put_along_axis(dplanes, first, np.moveaxis(dout, axes, (-2, -1)).reshape(first.shape), axis=-1)
    return np.ascontiguousarray(np.moveaxis(dplanes.reshape(*planes.shape[:-1], h, w), (-2, -1), axes))


_POOL_ATTRS = {
    "pooling_type": "max",
    "ksize": [1, 1],
    "strides": [1, 1],
    "paddings": [0, 0],
    "global_pooling": False,
    "ceil_mode": False,
    "exclusive": True,
    "data_format": "NCHW",
    "padding_algorithm": "EXPLICIT",
}

register(
    OpDef(
        "pool2d",
        ("X",),
        ("Out",),
        _pool2d,
        _pool2d_infer,
        attrs=dict(_POOL_ATTRS),
        grad=simple_grad("pool2d_grad", ("X",), ("Out",)),
    )
)
register(
    OpDef(
        "pool2d_grad",
        ("X", "Out", "Out@GRAD"),
        ("X@GRAD",),
        _pool2d_grad,
        like_inputs(**grad_slots("X")),
        attrs=dict(_POOL_ATTRS),
        no_grad=NO_SECOND_ORDER,
        optional_outputs=("X@GRAD",),
    )
)
