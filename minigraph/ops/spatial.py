"""Geometry shared by the spatial ops (conv2d, pool2d): layouts, padding (explicit, SAME,
VALID), output sizes, and the strided slices of each kernel offset.

Geometry follows Paddle: `paddings` is [ph, pw] or [top, bottom, left, right];
padding_algorithm "SAME"/"VALID" computes the padding and forces dilation 1; pooling with
ceil_mode uses (in + pads - k + s - 1) // s + 1 output rows, without PyTorch's extra rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops.buffers import empty
from minigraph.ops.layout import LAYOUTS

PADDING_ALGORITHMS = ("EXPLICIT", "SAME", "VALID")
POOL_TYPES = ("max", "avg")

# --- geometry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    """Where the windows of one conv/pool lie: all pairs are (height, width)."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, bottom, left, right
    out: tuple[int, int]  # -1 where the input size is unknown

    def span(self, i: int) -> int:
        """Rows (i=0) or columns (i=1) of padded input the windows reach."""
        eff = self.dilations[i] * (self.kernel[i] - 1) + 1
        return (self.out[i] - 1) * self.strides[i] + eff


def spatial_axes(data_format: str) -> tuple[int, int]:
    return (2, 3) if data_format == "NCHW" else (1, 2)


def _ints(name: str, value: Any, sizes: tuple[int, ...], low: int) -> list[int]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) not in sizes
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        want = " or ".join(str(s) for s in sizes)
        raise GraphBuildError(f"{name} must be a list of {want} ints, got {value!r}")
    if any(v < low for v in value):
        raise GraphBuildError(f"{name} must be >= {low}, got {list(value)}")
    return [int(v) for v in value]


# Geometries already computed, by their arguments: kernels ask for the same few on every run,
# and validating the attrs again cost more than a small conv itself. Only all-int keys are
# kept, so a float or bool that equals an int is still validated (and refused).
_KNOWN: dict[tuple[Any, ...], Geometry] = {}
_KNOWN_MAX = 1024


def geometry(
    in_hw: tuple[int, int],
    kernel: Any,
    strides: Any,
    dilations: Any,
    paddings: Any,
    algorithm: str,
    ceil_mode: bool = False,
) -> Geometry:
    """Validate the window attrs and compute the output size; raises GraphBuildError for
    impossible configurations (the caller's op type is added by Block.append_op)."""
    args = (in_hw, kernel, strides, dilations, paddings, algorithm, ceil_mode)
    try:
        parts = (tuple(in_hw), tuple(kernel), tuple(strides), tuple(dilations), tuple(paddings))
    except TypeError:  # not sequences: _window_geometry explains
        parts = None
    if parts is not None and algorithm.__class__ is str and all(v.__class__ is int for part in parts for v in part):
        key = (*parts, algorithm, bool(ceil_mode))
        known = _KNOWN.get(key)
        if known is None:
            known = _window_geometry(args)
            if len(_KNOWN) < _KNOWN_MAX:
                _KNOWN[key] = known
        return known
    return _window_geometry(args)


def _window_geometry(args: tuple[Any, ...]) -> Geometry:
    """geometry's work, on its arguments in their order."""
    in_hw, kernel, strides, dilations, paddings, algorithm, ceil_mode = args
    k = _ints("kernel size", kernel, (2,), 1)
    s = _ints("strides", strides, (2,), 1)
    d = _ints("dilations", dilations, (2,), 1)
    p = _ints("paddings", paddings, (2, 4), 0)
    if algorithm not in PADDING_ALGORITHMS:
        raise GraphBuildError(f"padding_algorithm must be one of {PADDING_ALGORITHMS}, got {algorithm!r}")
    pads = [p[0], p[0], p[1], p[1]] if len(p) == 2 else p
    if algorithm != "EXPLICIT":
        d = [1, 1]  # as in Paddle: SAME and VALID ignore dilation
        pads = [0, 0, 0, 0]
    out = []
    for i, n in enumerate(in_hw):
        if algorithm == "SAME":
            if n < 0:
                out.append(-1)
                continue
            o = -(-n // s[i])
            total = max((o - 1) * s[i] + k[i] - n, 0)
            pads[2 * i], pads[2 * i + 1] = total // 2, total - total // 2
        if n < 0:
            out.append(-1)
            continue
        eff = d[i] * (k[i] - 1) + 1
        padded = n + pads[2 * i] + pads[2 * i + 1]
        if padded < eff:
            what = "height" if i == 0 else "width"
            dil = f" (size {k[i]} at dilation {d[i]})" if d[i] > 1 else ""
            raise GraphBuildError(
                f"the kernel {what} {eff}{dil} is larger than the padded input {what} {padded} "
                f"({n} + padding {pads[2 * i]} + {pads[2 * i + 1]})"
            )
        out.append((padded - eff + (s[i] - 1 if ceil_mode else 0)) // s[i] + 1)
    return Geometry((k[0], k[1]), (s[0], s[1]), (d[0], d[1]), (pads[0], pads[1], pads[2], pads[3]), (out[0], out[1]))


def layout_of(attrs: dict[str, Any]) -> str:
    fmt = attrs["data_format"]
    if fmt not in LAYOUTS:
        raise GraphBuildError(f"data_format must be one of {LAYOUTS}, got {fmt!r}")
    return fmt


def spatial_dims(shape: tuple[int, ...], fmt: str) -> tuple[int, int]:
    h, w = spatial_axes(fmt)
    return shape[h], shape[w]


def with_spatial(shape: tuple[int, ...], fmt: str, hw: tuple[int, int]) -> tuple[int, ...]:
    out = list(shape)
    h, w = spatial_axes(fmt)
    out[h], out[w] = hw
    return tuple(out)


# --- padding and kernel offsets --------------------------------------------------------


def padded_shape(shape: tuple[int, ...], axes: tuple[int, int], g: Geometry) -> tuple[int, ...]:
    """The shape after padding, extended at the far end when ceil_mode windows reach past the
    explicit padding."""
    out = list(shape)
    out[axes[0]] = max(shape[axes[0]] + g.pads[0] + g.pads[1], g.span(0))
    out[axes[1]] = max(shape[axes[1]] + g.pads[2] + g.pads[3], g.span(1))
    return tuple(out)


def window_index(ndim: int, axes: tuple[int, int], hs: slice, ws: slice) -> tuple[slice, ...]:
    idx = [slice(None)] * ndim
    idx[axes[0]], idx[axes[1]] = hs, ws
    return tuple(idx)


def pad(x: np.ndarray, axes: tuple[int, int], g: Geometry, value: float) -> np.ndarray:
    """A contiguous copy of x padded with `value` around its spatial axes (x itself when there
    is nothing to pad and it is contiguous)."""
    shape = padded_shape(x.shape, axes, g)
    if shape == x.shape:
        return np.ascontiguousarray(x)
    out = empty(shape, x.dtype)
    out.fill(value)
    t, left = g.pads[0], g.pads[2]
    out[window_index(x.ndim, axes, slice(t, t + x.shape[axes[0]]), slice(left, left + x.shape[axes[1]]))] = x
    return out


def crop(xp: np.ndarray, axes: tuple[int, int], g: Geometry, hw: tuple[int, int]) -> np.ndarray:
    t, left = g.pads[0], g.pads[2]
    return xp[window_index(xp.ndim, axes, slice(t, t + hw[0]), slice(left, left + hw[1]))]


def kernel_offsets(g: Geometry, ndim: int, axes: tuple[int, int]) -> Iterator[tuple[slice, ...]]:
    """For each kernel offset (i, j) in row-major order, the index of the padded-input elements
    it touches across all windows: a strided slice shaped like the output."""
    (sh, sw), (dh, dw), (oh, ow) = g.strides, g.dilations, g.out
    for i in range(g.kernel[0]):
        for j in range(g.kernel[1]):
            hs = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            ws = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            yield window_index(ndim, axes, hs, ws)
