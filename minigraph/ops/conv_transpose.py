"""conv2d_transpose and its gradient, from conv2d's own kernels.

A transposed convolution is the input-gradient of a convolution: with the same filter,
strides, paddings and dilations, conv2d maps an [N, Cout, Ho, Wo] image to [N, Cin, H, W],
and conv2d_transpose maps [N, Cin, H, W] back to [N, Cout, Ho, Wo]. So its forward is
conv2d's input-gradient kernel, its input gradient is conv2d's forward, and its filter
gradient is conv2d's filter gradient with the roles of image and output swapped. The filter
is [Cin, Cout / groups, kh, kw], Paddle's layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError, OpTypeError
from minigraph.ops.common import register_with_grad, require_float
from minigraph.ops.conv import CONV_ATTRS, _conv2d, _conv2d_grad, conv_geometry
from minigraph.ops.layout import channel_axis
from minigraph.ops.spatial import layout_of, spatial_dims
from minigraph.registry import WIRED, wired
from minigraph.types import shape_text

ATTRS = {**CONV_ATTRS, "output_size": [], "output_padding": []}


def _conv_attrs(a: dict[str, Any], flags: tuple[bool, bool] | None = None) -> dict[str, Any]:
    """The attrs of the convolution this op transposes (with wiring flags for its grad kernel)."""
    out = {k: a[k] for k in CONV_ATTRS}
    if flags is not None:
        out[WIRED] = flags
    return out


def out_hw(attrs: dict[str, Any], hw: tuple[int, int], kernel: tuple[int, int]) -> tuple[int, int]:
    """Output height and width: (in - 1) * stride - pads + dilation * (k - 1) + 1 (+ output_padding),
    or `output_size`, which may exceed that by less than a stride."""
    pads = attrs["paddings"]
    pads = [pads[0], pads[0], pads[1], pads[1]] if len(pads) == 2 else pads
    extra = attrs["output_padding"] or [0, 0]
    out = []
    for i, (n, k) in enumerate(zip(hw, kernel)):
        s, d = attrs["strides"][i], attrs["dilations"][i]
        size = -1 if n < 0 else (n - 1) * s - pads[2 * i] - pads[2 * i + 1] + d * (k - 1) + 1 + extra[i]
        if n >= 0 and size < 1:
            raise GraphBuildError(f"the output would be empty: size {size} along spatial dim {i}")
        if attrs["output_size"]:
            want = attrs["output_size"][i]
            if size >= 0 and not size <= want < size + s:
                raise GraphBuildError(
                    f"output_size {attrs['output_size']} is not reachable: dim {i} can be {size} to "
                    f"{size + s - 1} with stride {s}"
                )
            size = want
        out.append(size)
    return out[0], out[1]


def _with_hw(x_shape: tuple[int, ...], fmt: str, channels: int, hw: tuple[int, int]) -> tuple[int, ...]:
    n = x_shape[0]
    return (n, channels, *hw) if fmt == "NCHW" else (n, *hw, channels)


def _infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, w = ins["Input"], ins["Filter"]
    if attrs["padding_algorithm"] != "EXPLICIT":
        raise GraphBuildError("conv2d_transpose takes explicit paddings only (numbers, not 'SAME'/'VALID')")
    if len(x.shape) != 4 or len(w.shape) != 4:
        raise GraphBuildError(
            f"Input {shape_text(x.shape)} and Filter {shape_text(w.shape)} must be 4-D "
            f"(Filter [in_channels, out_channels / groups, kh, kw])"
        )
    require_float(x, "conv2d_transpose: Input")
    if w.dtype != x.dtype:
        raise OpTypeError(f"conv2d_transpose: Filter {w.name!r} is {w.dtype} but Input {x.name!r} is {x.dtype}")
    fmt = layout_of(attrs)
    c = x.shape[channel_axis(fmt)]
    if c >= 0 and c != w.shape[0]:
        raise GraphBuildError(
            f"Input {x.name!r} has {c} channels but Filter {w.name!r} {shape_text(w.shape)} takes {w.shape[0]}"
        )
    hw = out_hw(attrs, spatial_dims(x.shape, fmt), (w.shape[2], w.shape[3]))
    out = _with_hw(x.shape, fmt, w.shape[1] * attrs["groups"], hw)
    if -1 not in out:
        # the convolution being transposed must map the output back onto the input exactly
        back = conv_geometry(_conv_attrs(attrs), out, tuple(w.shape)).out
        if tuple(back) != spatial_dims(x.shape, fmt):
            raise GraphBuildError(f"paddings/strides do not fit: {shape_text(out)} convolves to {back}, not the input")
    return {"Output": (out, x.dtype)}


def _forward(a: dict[str, Any], x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray]:
    fmt = layout_of(a)
    shape = _with_hw(x.shape, fmt, w.shape[1] * a["groups"], out_hw(a, spatial_dims(x.shape, fmt), w.shape[2:]))
    image = np.broadcast_to(np.zeros((), x.dtype), shape)  # only its shape is read
    dx, _ = _conv2d_grad(_conv_attrs(a, (True, False)), image, w, x)
    return (dx,)


def _grad(
    a: dict[str, Any], x: np.ndarray, w: np.ndarray, dout: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    dx = _conv2d(_conv_attrs(a), np.ascontiguousarray(dout), w)[0] if wired(a, 0) else None
    dw = None
    if wired(a, 1):
        _, dw = _conv2d_grad(_conv_attrs(a, (False, True)), np.ascontiguousarray(dout), w, x)
    return dx, dw


register_with_grad(
    "conv2d_transpose",
    ("Input", "Filter"),
    ("Output",),
    _forward,
    _infer,
    _grad,
    attrs=ATTRS,
    reads=("Input", "Filter"),
    diff=("Input", "Filter"),
    out="Output",
)
