"""Convolution, pooling and dropout: conv2d, pool2d, dropout and their gradient ops.

conv2d pads its input into a contiguous NHWC buffer, copies the kernel windows out of a
`sliding_window_view` once into an im2col matrix, and does one batched matmul with the
groups as the batch dimension (so depthwise convolution is a single matmul too). pool2d runs
one vectorised op per kernel offset over strided slices of the padded input. Gradients add
back per kernel offset too (kh*kw strided slice-adds): no loop over pixels or the batch, and
no np.add.at.

Geometry follows Paddle: `paddings` is [ph, pw] or [top, bottom, left, right];
padding_algorithm "SAME"/"VALID" computes the padding and forces dilation 1; pooling with
ceil_mode uses (in + pads - k + s - 1) // s + 1 output rows, without PyTorch's extra rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from minigraph.errors import GraphBuildError, OpTypeError
from minigraph.ir.variable import shape_text
from minigraph.ops.buffers import empty, scrap, zeros
from minigraph.ops.common import NO_SECOND_ORDER, grad_slots, like_inputs, require_float, simple_grad
from minigraph.ops.registry import OpDef, register, wired

LAYOUTS = ("NCHW", "NHWC")
PADDING_ALGORITHMS = ("EXPLICIT", "SAME", "VALID")
POOL_TYPES = ("max", "avg")
DROPOUT_IMPLEMENTATIONS = ("downgrade_in_infer", "upscale_in_train")

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


def channel_axis(data_format: str) -> int:
    return 1 if data_format == "NCHW" else 3


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


def _layout(attrs: dict[str, Any]) -> str:
    fmt = attrs["data_format"]
    if fmt not in LAYOUTS:
        raise GraphBuildError(f"data_format must be one of {LAYOUTS}, got {fmt!r}")
    return fmt


def _spatial(shape: tuple[int, ...], fmt: str) -> tuple[int, int]:
    h, w = spatial_axes(fmt)
    return shape[h], shape[w]


def _with_spatial(shape: tuple[int, ...], fmt: str, hw: tuple[int, int]) -> tuple[int, ...]:
    out = list(shape)
    h, w = spatial_axes(fmt)
    out[h], out[w] = hw
    return tuple(out)


# --- padding and kernel offsets --------------------------------------------------------


def _padded_shape(shape: tuple[int, ...], axes: tuple[int, int], g: Geometry) -> tuple[int, ...]:
    """The shape after padding, extended at the far end when ceil_mode windows reach past the
    explicit padding."""
    out = list(shape)
    out[axes[0]] = max(shape[axes[0]] + g.pads[0] + g.pads[1], g.span(0))
    out[axes[1]] = max(shape[axes[1]] + g.pads[2] + g.pads[3], g.span(1))
    return tuple(out)


def _index(ndim: int, axes: tuple[int, int], hs: slice, ws: slice) -> tuple[slice, ...]:
    idx = [slice(None)] * ndim
    idx[axes[0]], idx[axes[1]] = hs, ws
    return tuple(idx)


def _pad(x: np.ndarray, axes: tuple[int, int], g: Geometry, value: float) -> np.ndarray:
    """A contiguous copy of x padded with `value` around its spatial axes (x itself when there
    is nothing to pad and it is contiguous)."""
    shape = _padded_shape(x.shape, axes, g)
    if shape == x.shape:
        return np.ascontiguousarray(x)
    out = empty(shape, x.dtype)
    out.fill(value)
    t, left = g.pads[0], g.pads[2]
    out[_index(x.ndim, axes, slice(t, t + x.shape[axes[0]]), slice(left, left + x.shape[axes[1]]))] = x
    return out


def _crop(xp: np.ndarray, axes: tuple[int, int], g: Geometry, hw: tuple[int, int]) -> np.ndarray:
    t, left = g.pads[0], g.pads[2]
    return xp[_index(xp.ndim, axes, slice(t, t + hw[0]), slice(left, left + hw[1]))]


def _offsets(g: Geometry, ndim: int, axes: tuple[int, int]) -> Iterator[tuple[slice, ...]]:
    """For each kernel offset (i, j) in row-major order, the index of the padded-input elements
    it touches across all windows: a strided slice shaped like the output."""
    (sh, sw), (dh, dw), (oh, ow) = g.strides, g.dilations, g.out
    for i in range(g.kernel[0]):
        for j in range(g.kernel[1]):
            hs = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            ws = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            yield _index(ndim, axes, hs, ws)


def _conv_geometry(attrs: dict[str, Any], x_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> Geometry:
    return geometry(
        _spatial(x_shape, attrs["data_format"]),
        list(w_shape[2:]),
        attrs["strides"],
        attrs["dilations"],
        attrs["paddings"],
        attrs["padding_algorithm"],
    )


def _conv2d_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, w = ins["Input"], ins["Filter"]
    require_float(x, "Input")
    if w.dtype != x.dtype:
        raise OpTypeError(f"Filter {w.name!r} is {w.dtype} but Input {x.name!r} is {x.dtype}")
    fmt = _layout(attrs)
    if len(x.shape) != 4:
        raise GraphBuildError(f"Input {x.name!r} must be 4-D ({fmt}), got {shape_text(x.shape)}")
    if len(w.shape) != 4 or min(w.shape) < 1:
        raise GraphBuildError(
            f"Filter {w.name!r} must be 4-D [out_channels, in_channels / groups, kh, kw], got {shape_text(w.shape)}"
        )
    groups = attrs["groups"]
    if groups < 1:
        raise GraphBuildError(f"groups must be >= 1, got {groups}")
    c, (o, cg) = x.shape[channel_axis(fmt)], w.shape[:2]
    if c != -1 and c % groups:
        raise GraphBuildError(f"the {c} input channels of {x.name!r} are not divisible by groups={groups}")
    if c != -1 and cg * groups != c:
        raise GraphBuildError(
            f"Filter {w.name!r} {shape_text(w.shape)} takes {cg} channels per group, i.e. {cg * groups} input "
            f"channels with groups={groups}, but Input {x.name!r} has {c}"
        )
    if o % groups:
        raise GraphBuildError(f"the {o} output channels of Filter {w.name!r} are not divisible by groups={groups}")
    g = _conv_geometry(attrs, x.shape, w.shape)
    n = x.shape[0]
    shape = (n, o, *g.out) if fmt == "NCHW" else (n, *g.out, o)
    return {"Output": (shape, x.dtype)}


def _clip(offset: int, stride: int, n_in: int, n_out: int) -> tuple[int, int, int] | None:
    """For one kernel offset along one axis: the output positions o in [lo, hi) whose input
    position o*stride + offset lies inside [0, n_in), and the first such input position."""
    lo = max(0, -(offset // stride))
    hi = min(n_out, (n_in - 1 - offset) // stride + 1)
    return (lo, hi, lo * stride + offset) if hi > lo else None


def _add_patches(dx: np.ndarray, patches: np.ndarray, g: Geometry, axes: tuple[int, int]) -> None:
    """col2im: for each kernel offset (i, j), add `patches[i, j]` (shaped like the output
    along `axes`) into `dx` at the input positions it was read from, clipping whatever fell
    in the padding. kh*kw strided slice-adds, no padded buffer and no crop copy."""
    (sh, sw), (oh, ow) = g.strides, g.out
    h, w = dx.shape[axes[0]], dx.shape[axes[1]]
    for i in range(g.kernel[0]):
        rows = _clip(i * g.dilations[0] - g.pads[0], sh, h, oh)
        if rows is None:
            continue
        for j in range(g.kernel[1]):
            cols = _clip(j * g.dilations[1] - g.pads[2], sw, w, ow)
            if cols is None:
                continue
            (r0, r1, hr), (c0, c1, hc) = rows, cols
            src = patches[i, j][_index(patches.ndim - 2, axes, slice(r0, r1), slice(c0, c1))]
            dst = _index(
                dx.ndim, axes, slice(hr, hr + sh * (r1 - r0 - 1) + 1, sh), slice(hc, hc + sw * (c1 - c0 - 1) + 1, sw)
            )
            dx[dst] += src


# NCHW convolution: patches in "channel-first" order, [N, groups, C/groups*kh*kw, OH*OW]
# (rows ordered (channel, kh, kw) as the filter's [O, C/groups, kh, kw] flattens, columns
# the output pixels), so forward is one broadcast matmul filter @ patches that lands
# directly in NCHW order, with no transpose of the output; the patch copy reads runs of OW
# contiguous values.


def _im2col_nchw(attrs: dict[str, Any], x: np.ndarray, w_shape: tuple[int, ...]) -> tuple[np.ndarray, Geometry]:
    groups = attrs["groups"]
    g = _conv_geometry(attrs, x.shape, w_shape)
    xp = _pad(x, (2, 3), g, 0.0)
    (sh, sw), (dh, dw), (oh, ow), (kh, kw) = g.strides, g.dilations, g.out, g.kernel
    eff = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    v = sliding_window_view(xp, eff, axis=(2, 3))  # [N, C, H', W', eff_h, eff_w], no copy
    v = v[:, :, : sh * (oh - 1) + 1 : sh, : sw * (ow - 1) + 1 : sw, ::dh, ::dw]
    n, c = x.shape[:2]
    cols = empty((n, c, kh, kw, oh, ow), x.dtype)
    np.copyto(cols, v.transpose(0, 1, 4, 5, 2, 3))
    del v
    if xp is not x:
        scrap(xp)
    return cols.reshape(n, groups, (c // groups) * kh * kw, oh * ow), g


def _conv2d_nchw(a: dict[str, Any], x: np.ndarray, w: np.ndarray) -> np.ndarray:
    cols, g = _im2col_nchw(a, x, w.shape)
    n, groups, kg, p = cols.shape
    o = w.shape[0]
    out = empty((n, groups, o // groups, p), x.dtype)
    np.matmul(w.reshape(groups, o // groups, kg), cols, out=out)
    scrap(cols)
    return out.reshape(n, o, *g.out)


def _conv2d_grad_nchw(
    a: dict[str, Any], x: np.ndarray, w: np.ndarray, dout: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    groups = a["groups"]
    n, o = dout.shape[:2]
    d = dout.reshape(n, groups, o // groups, -1)
    wg = w.reshape(groups, o // groups, -1)
    dw = None
    if wired(a, 1):
        cols, g = _im2col_nchw(a, x, w.shape)
        # per-sample partial products summed over the batch: BLAS reads both operands in
        # place (no transposed copies), and the [N, O, K] partials are small.
        dw = np.matmul(d, cols.transpose(0, 1, 3, 2)).sum(axis=0, dtype=w.dtype).reshape(w.shape)
        scrap(cols)
    dx = None
    if wired(a, 0):
        g = _conv_geometry(a, x.shape, w.shape)
        kh, kw = g.kernel
        dcols = empty((n, groups, wg.shape[2], d.shape[3]), x.dtype)
        np.matmul(wg.transpose(0, 2, 1), d, out=dcols)
        # [N, C, kh, kw, OH, OW] -> [kh, kw, N, C, OH, OW]: one patch per kernel offset
        patches = dcols.reshape(n, x.shape[1], kh, kw, *g.out).transpose(2, 3, 0, 1, 4, 5)
        dx = zeros(x.shape, x.dtype)
        _add_patches(dx, patches, g, (2, 3))
        del patches
        scrap(dcols)
    return dx, dw


# NHWC convolution: patches [groups, N*OH*OW, kh*kw*C/groups], columns ordered (kh, kw,
# channel); the input is padded into a contiguous NHWC buffer so the one copy out of the
# window view reads whole channel runs.


def _im2col(attrs: dict[str, Any], x: np.ndarray, w_shape: tuple[int, ...]) -> tuple[np.ndarray, Geometry]:
    groups = attrs["groups"]
    g = _conv_geometry(attrs, x.shape, w_shape)
    xp = _pad(x, (1, 2), g, 0.0)
    (sh, sw), (dh, dw), (oh, ow) = g.strides, g.dilations, g.out
    eff = (dh * (g.kernel[0] - 1) + 1, dw * (g.kernel[1] - 1) + 1)
    v = sliding_window_view(xp, eff, axis=(1, 2))  # [N, H', W', C, eff_h, eff_w], no copy
    v = v[:, : sh * (oh - 1) + 1 : sh, : sw * (ow - 1) + 1 : sw, :, ::dh, ::dw]
    n, c, (kh, kw) = x.shape[0], xp.shape[3], g.kernel
    v = v.reshape(n, oh, ow, groups, c // groups, kh, kw).transpose(3, 0, 1, 2, 5, 6, 4)
    return v.reshape(groups, n * oh * ow, kh * kw * (c // groups)), g


def _filter_rows(w: np.ndarray, groups: int) -> np.ndarray:
    """[O, C/groups, kh, kw] -> [groups, O/groups, kh*kw*C/groups], matching _im2col's columns."""
    o = w.shape[0]
    return w.transpose(0, 2, 3, 1).reshape(groups, o // groups, -1)


def _conv2d(a: dict[str, Any], x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray]:
    if a["data_format"] == "NCHW":
        return (_conv2d_nchw(a, x, w),)
    cols, g = _im2col(a, x, w.shape)
    out = np.matmul(cols, _filter_rows(w, a["groups"]).transpose(0, 2, 1))  # [groups, M, O/groups]
    groups, _, og = out.shape
    r = out.reshape(groups, x.shape[0], g.out[0], g.out[1], og)
    return (np.ascontiguousarray(r.transpose(1, 2, 3, 0, 4).reshape(x.shape[0], *g.out, groups * og)),)


def _conv2d_grad(
    a: dict[str, Any], x: np.ndarray, w: np.ndarray, dout: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if a["data_format"] == "NCHW":
        return _conv2d_grad_nchw(a, x, w, np.ascontiguousarray(dout))
    groups = a["groups"]
    cols, g = _im2col(a, x, w.shape)
    n, oh, ow, o = dout.shape
    d = dout.reshape(n, oh, ow, groups, o // groups).transpose(3, 0, 1, 2, 4).reshape(groups, -1, o // groups)
    _, cg, kh, kw = w.shape
    dw = None
    if wired(a, 1):
        dw = np.matmul(d.transpose(0, 2, 1), cols).reshape(o, kh, kw, cg).transpose(0, 3, 1, 2)
        dw = np.ascontiguousarray(dw, dtype=w.dtype)
    dx = None
    if wired(a, 0):
        dcols = np.matmul(d, _filter_rows(w, groups))  # [groups, M, kh*kw*C/groups]
        patches = dcols.reshape(groups, n, oh, ow, kh, kw, cg).transpose(4, 5, 1, 2, 3, 0, 6)
        h, wd = x.shape[1:3]
        dx5 = zeros((n, h, wd, groups, cg), x.dtype)
        _add_patches(dx5, patches, g, (1, 2))
        dx = dx5.reshape(x.shape)
    return dx, dw


register(
    OpDef(
        "conv2d",
        ("Input", "Filter"),
        ("Output",),
        _conv2d,
        _conv2d_infer,
        attrs={
            "strides": [1, 1],
            "paddings": [0, 0],
            "dilations": [1, 1],
            "groups": 1,
            "data_format": "NCHW",
            "padding_algorithm": "EXPLICIT",
        },
        grad=simple_grad("conv2d_grad", ("Input", "Filter"), diff_inputs=("Input", "Filter"), out="Output"),
    )
)
register(
    OpDef(
        "conv2d_grad",
        ("Input", "Filter", "Output@GRAD"),
        ("Input@GRAD", "Filter@GRAD"),
        _conv2d_grad,
        like_inputs(**grad_slots("Input", "Filter")),
        attrs={
            "strides": [1, 1],
            "paddings": [0, 0],
            "dilations": [1, 1],
            "groups": 1,
            "data_format": "NCHW",
            "padding_algorithm": "EXPLICIT",
        },
        no_grad=NO_SECOND_ORDER,
        optional_outputs=("Input@GRAD", "Filter@GRAD"),
    )
)

# --- pool2d -----------------------------------------------------------------------------


def _pool_geometry(attrs: dict[str, Any], x_shape: tuple[int, ...]) -> Geometry:
    in_hw = _spatial(x_shape, attrs["data_format"])
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
    fmt = _layout(attrs)
    if attrs["pooling_type"] not in POOL_TYPES:
        raise GraphBuildError(f"pooling_type must be one of {POOL_TYPES}, got {attrs['pooling_type']!r}")
    if len(x.shape) != 4:
        raise GraphBuildError(f"X {x.name!r} must be 4-D ({fmt}), got {shape_text(x.shape)}")
    return {"Out": (_with_spatial(x.shape, fmt, _pool_geometry(attrs, x.shape).out), x.dtype)}


def _avg_divisor(attrs: dict[str, Any], x_shape: tuple[int, ...], g: Geometry) -> np.ndarray | float:
    """kh*kw, or with `exclusive` the number of real (non-padding) elements per window,
    shaped to broadcast against Out."""
    if not attrs["exclusive"]:
        return float(g.kernel[0] * g.kernel[1])
    counts = []
    for i, n in enumerate(_spatial(x_shape, attrs["data_format"])):
        start = np.arange(g.out[i]) * g.strides[i] - g.pads[2 * i]
        counts.append(np.minimum(start + g.kernel[i], n) - np.maximum(start, 0))
    # NOTE: a window lying wholly in padding (possible with ceil_mode) counts as 1, so it
    # averages to 0 instead of 0/0.
    div = np.maximum(np.outer(counts[0], counts[1]), 1).astype(np.float64)
    return div if attrs["data_format"] == "NCHW" else div[:, :, None]


def _pool2d(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
    g, axes = _pool_geometry(a, x.shape), spatial_axes(a["data_format"])
    is_max = a["pooling_type"] == "max"
    if a["global_pooling"]:
        return ((x.max(axis=axes, keepdims=True) if is_max else x.mean(axis=axes, keepdims=True)),)
    # NOTE: max pads with -inf, so padding never wins (Paddle's kernel skips padded positions).
    xp = _pad(x, axes, g, -np.inf if is_max else 0.0)
    # One vectorised op per kernel offset over strided slices: much faster in numpy than
    # reducing over the two small trailing axes of a window view.
    offsets = _offsets(g, x.ndim, axes)
    first = xp[next(offsets)]
    out = empty(first.shape, x.dtype)
    np.copyto(out, first)
    for idx in offsets:
        (np.maximum if is_max else np.add)(out, xp[idx], out=out)
    if not is_max:
        out /= _avg_divisor(a, x.shape, g)
    return (out,)


def _tiles(g: Geometry, hw: tuple[int, int]) -> bool:
    """Whether the windows tile the input exactly: each element in exactly one window."""
    k, o = g.kernel, g.out
    return g.strides == k and not any(g.pads) and hw == (o[0] * k[0], o[1] * k[1])


def _pool2d_grad(a: dict[str, Any], x: np.ndarray, out: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray]:
    g, axes = _pool_geometry(a, x.shape), spatial_axes(a["data_format"])
    is_max = a["pooling_type"] == "max"
    if a["global_pooling"]:
        return (_global_pool_grad(x, dout, axes, is_max),)
    if _tiles(g, _spatial(x.shape, a["data_format"])):
        return (_tiled_pool_grad(x, out, dout, g, axes, is_max),)
    dxp = zeros(_padded_shape(x.shape, axes, g), x.dtype)
    if is_max:
        # NOTE: on ties the whole gradient goes to the first maximum in row-major window
        # order, as in Paddle's kernel (it stops at the first element equal to Out).
        xp = _pad(x, axes, g, -np.inf)
        taken = np.zeros(out.shape, dtype=bool)
        for idx in _offsets(g, x.ndim, axes):
            hit = (xp[idx] == out) & ~taken
            dxp[idx] += np.where(hit, dout, 0)
            taken |= hit
    else:
        share = dout / _avg_divisor(a, x.shape, g)
        for idx in _offsets(g, x.ndim, axes):
            dxp[idx] += share
    return (np.ascontiguousarray(_crop(dxp, axes, g, _spatial(x.shape, a["data_format"]))),)


def _tiled_pool_grad(
    x: np.ndarray, out: np.ndarray, dout: np.ndarray, g: Geometry, axes: tuple[int, int], is_max: bool
) -> np.ndarray:
    """Each input element lies in exactly one window (stride == kernel, no padding), so
    every kernel offset's slice of dX is written once: no zero fill, no accumulation."""
    dx = empty(x.shape, x.dtype)
    if not is_max:
        share = dout / dout.dtype.type(g.kernel[0] * g.kernel[1])
        for idx in _offsets(g, x.ndim, axes):
            dx[idx] = share
        return dx
    # first maximum in row-major window order wins ties, as in the general path
    taken = empty(out.shape, np.bool_)
    hit = empty(out.shape, np.bool_)
    for k, idx in enumerate(_offsets(g, x.ndim, axes)):
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

# --- dropout ----------------------------------------------------------------------------


def _dropout_check(attrs: dict[str, Any]) -> None:
    if not 0.0 <= attrs["dropout_prob"] <= 1.0:
        raise GraphBuildError(f"dropout_prob must be in [0, 1], got {attrs['dropout_prob']}")
    if attrs["dropout_implementation"] not in DROPOUT_IMPLEMENTATIONS:
        raise GraphBuildError(
            f"dropout_implementation must be one of {DROPOUT_IMPLEMENTATIONS}, got {attrs['dropout_implementation']!r}"
        )


def _dropout_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["X"]
    require_float(x, "X")
    _dropout_check(attrs)
    return {"Out": (x.shape, x.dtype), "Mask": (x.shape, "uint8")}


def _train_scale(p: float, upscale: bool) -> float:
    """What a kept element is multiplied by in training mode."""
    if not upscale:
        return 1.0
    # NOTE: with p == 1 every element is dropped; scale 0 gives zeros instead of 0/0.
    return 0.0 if p >= 1.0 else 1.0 / (1.0 - p)


def _dropout(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, upscale = a["dropout_prob"], a["dropout_implementation"] == "upscale_in_train"
    if a["is_test"]:
        out = x.copy() if upscale else x * x.dtype.type(1.0 - p)
        return out, np.ones(x.shape, dtype=np.uint8)
    # A nonzero seed (or fix_seed) gives the same mask on every run, as in Paddle; the
    # executor turns seed 0 into a per-op seed when Program.random_seed is set.
    rng = np.random.default_rng(a["seed"] if (a["seed"] or a["fix_seed"]) else None)
    mask = (rng.random(x.shape, dtype=np.float32) >= np.float32(p)).astype(np.uint8)
    return x * mask * x.dtype.type(_train_scale(p, upscale)), mask


def _dropout_grad(a: dict[str, Any], mask: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray]:
    p, upscale = a["dropout_prob"], a["dropout_implementation"] == "upscale_in_train"
    if a["is_test"]:
        return (dout.copy() if upscale else dout * dout.dtype.type(1.0 - p),)
    return (dout * mask * dout.dtype.type(_train_scale(p, upscale)),)


_DROPOUT_ATTRS = {
    "dropout_prob": 0.5,
    "is_test": False,
    "fix_seed": False,
    "seed": 0,
    "dropout_implementation": "downgrade_in_infer",
}

register(
    OpDef(
        "dropout",
        ("X",),
        ("Out", "Mask"),
        _dropout,
        _dropout_infer,
        attrs=dict(_DROPOUT_ATTRS),
        grad=lambda g: g.emit(
            "dropout_grad",
            attrs=g.attrs,
            Mask=g.output("Mask"),
            **{"Out@GRAD": g.out_grad("Out"), "X@GRAD": g.in_grad("X")},
        ),
    )
)
register(
    OpDef(
        "dropout_grad",
        ("Mask", "Out@GRAD"),
        ("X@GRAD",),
        _dropout_grad,
        like_inputs(**{"X@GRAD": "Out@GRAD"}),
        attrs=dict(_DROPOUT_ATTRS),
        no_grad=NO_SECOND_ORDER,
        optional_outputs=("X@GRAD",),
    )
)
