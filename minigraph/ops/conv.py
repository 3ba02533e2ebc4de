"""conv2d and its gradient.

conv2d pads its input, copies the kernel windows out of a `sliding_window_view` once into an
im2col matrix, and does one matmul over the whole batch per group (NCHW: a single GEMM when
groups == 1; NHWC: a batched matmul with the groups as the batch dimension). The gradient adds back per kernel offset
(kh*kw strided slice-adds): no loop over pixels or the batch, and no np.add.at.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from minigraph.errors import GraphBuildError, OpTypeError
from minigraph.ops import conv_rows
from minigraph.ops.buffers import empty, scrap, zeros
from minigraph.ops.common import NO_SECOND_ORDER, grad_slots, like_inputs, require_float, simple_grad
from minigraph.ops.conv_rows import matmul_per_group
from minigraph.ops.layout import channel_axis
from minigraph.ops.spatial import (
    Geometry,
    geometry,
    layout_of,
    pad,
    spatial_dims,
    window_index,
)
from minigraph.registry import OpDef, register, wired
from minigraph.types import shape_text


def conv_geometry(attrs: dict[str, Any], x_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> Geometry:
    return geometry(
        spatial_dims(x_shape, attrs["data_format"]),
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
    fmt = layout_of(attrs)
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
    g = conv_geometry(attrs, x.shape, w.shape)
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
            src = patches[i, j][window_index(patches.ndim - 2, axes, slice(r0, r1), slice(c0, c1))]
            dst = window_index(
                dx.ndim, axes, slice(hr, hr + sh * (r1 - r0 - 1) + 1, sh), slice(hc, hc + sw * (c1 - c0 - 1) + 1, sw)
            )
            dx[dst] += src


# NCHW convolution: patches in "channel-first" order, [groups, C/groups*kh*kw, N*OH*OW]
# (rows ordered (channel, kh, kw) as the filter's [O, C/groups, kh, kw] flattens, columns
# (sample, output pixel)), so forward is one GEMM per group over the whole batch: filter @
# patches gives [O, N, OH*OW], one transposing copy from NCHW. One big GEMM instead of a
# small one per sample keeps BLAS efficient, and under load it does not stall between
# per-sample calls. The patch copy reads runs of OW contiguous values.


def _im2col_nchw(attrs: dict[str, Any], x: np.ndarray, w_shape: tuple[int, ...]) -> tuple[np.ndarray, Geometry]:
    groups = attrs["groups"]
    g = conv_geometry(attrs, x.shape, w_shape)
    (oh, ow), (kh, kw), (n, c) = g.out, g.kernel, x.shape[:2]
    cols = empty((c, kh, kw, n, oh, ow), x.dtype)
    xp = pad(x, (2, 3), g, 0.0)
    (sh, sw), (dh, dw) = g.strides, g.dilations
    eff = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    v = sliding_window_view(xp, eff, axis=(2, 3))  # [N, C, H', W', eff_h, eff_w], no copy
    v = v[:, :, : sh * (oh - 1) + 1 : sh, : sw * (ow - 1) + 1 : sw, ::dh, ::dw]
    np.copyto(cols, v.transpose(1, 4, 5, 0, 2, 3))
    del v
    if xp is not x:
        scrap(xp)
    return cols.reshape(groups, (c // groups) * kh * kw, n * oh * ow), g


def _conv2d_nchw(a: dict[str, Any], x: np.ndarray, w: np.ndarray) -> np.ndarray:
    if conv_rows.applies(a):
        return conv_rows.forward(x, w, conv_geometry(a, x.shape, w.shape), a["groups"])
    cols, g = _im2col_nchw(a, x, w.shape)
    groups, kg, m = cols.shape
    n, o = x.shape[0], w.shape[0]
    prod = matmul_per_group(w.reshape(groups, o // groups, kg), cols, empty((groups, o // groups, m), x.dtype))
    scrap(cols)
    out = empty((n, o, *g.out), x.dtype)
    np.copyto(out.reshape(n, groups, o // groups, -1), prod.reshape(groups, o // groups, n, -1).transpose(2, 0, 1, 3))
    scrap(prod)
    return out


def _conv2d_grad_nchw(
    a: dict[str, Any], x: np.ndarray, w: np.ndarray, dout: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if conv_rows.applies(a):
        g = conv_geometry(a, x.shape, w.shape)
        return conv_rows.backward(x, w, dout, g, a["groups"], wired(a, 0), wired(a, 1))
    groups = a["groups"]
    n, o = dout.shape[:2]
    og = o // groups
    # the output gradient as [groups, O/groups, N*OH*OW], matching the patches' columns
    d = empty((groups, og, n, dout[0, 0].size), dout.dtype)
    np.copyto(d, dout.reshape(n, groups, og, -1).transpose(1, 2, 0, 3))
    d = d.reshape(groups, og, -1)
    wg = w.reshape(groups, og, -1)
    dw = None
    if wired(a, 1):
        cols, g = _im2col_nchw(a, x, w.shape)
        dw = matmul_per_group(d, cols.transpose(0, 2, 1), empty((groups, og, cols.shape[1]), w.dtype)).reshape(w.shape)
        scrap(cols)
    dx = None
    if wired(a, 0):
        g = conv_geometry(a, x.shape, w.shape)
        kh, kw = g.kernel
        dcols = matmul_per_group(wg.transpose(0, 2, 1), d, empty((groups, wg.shape[2], d.shape[2]), x.dtype))
        dx = zeros(x.shape, x.dtype)
        # [C, kh, kw, N, OH, OW] -> [kh, kw, N, C, OH, OW]: one patch per kernel offset
        patches = dcols.reshape(x.shape[1], kh, kw, n, *g.out).transpose(1, 2, 3, 0, 4, 5)
        _add_patches(dx, patches, g, (2, 3))
        del patches
        scrap(dcols)
    scrap(d)
    return dx, dw


# NHWC convolution: patches [groups, N*OH*OW, kh*kw*C/groups], columns ordered (kh, kw,
# channel); the input is padded into a contiguous NHWC buffer so the one copy out of the
# window view reads whole channel runs.


def _im2col(attrs: dict[str, Any], x: np.ndarray, w_shape: tuple[int, ...]) -> tuple[np.ndarray, Geometry]:
    groups = attrs["groups"]
    g = conv_geometry(attrs, x.shape, w_shape)
    xp = pad(x, (1, 2), g, 0.0)
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


CONV_ATTRS = {
    "strides": [1, 1],
    "paddings": [0, 0],
    "dilations": [1, 1],
    "groups": 1,
    "data_format": "NCHW",
    "padding_algorithm": "EXPLICIT",
}
register(
    OpDef(
        "conv2d",
        ("Input", "Filter"),
        ("Output",),
        _conv2d,
        _conv2d_infer,
        attrs=CONV_ATTRS,
        splits_work=True,
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
        attrs=CONV_ATTRS,
        splits_work=True,
        no_grad=NO_SECOND_ORDER,
        optional_outputs=("Input@GRAD", "Filter@GRAD"),
    )
)
