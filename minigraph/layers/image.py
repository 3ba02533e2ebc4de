"""Image builders: conv2d_transpose, lrn, resize_nearest, resize_bilinear."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minigraph.errors import GraphBuildError
from minigraph.ir.variable import Variable
from minigraph.layers.conv import _check_image, _pair, padding_attrs
from minigraph.layers.helper import LayerHelper
from minigraph.ops.layout import channel_axis
from minigraph.ops.spatial import spatial_axes
from minigraph.param_attr import ParamAttr

__all__ = ["conv2d_transpose", "lrn", "resize_bilinear", "resize_nearest"]


def conv2d_transpose(
    input: Variable,
    num_filters: int,
    output_size: Sequence[int] | int | None = None,
    filter_size: Sequence[int] | int | None = None,
    padding: Any = 0,
    stride: Any = 1,
    dilation: Any = 1,
    groups: int | None = None,
    param_attr: Any = None,
    bias_attr: Any = None,
    use_cudnn: bool = True,
    act: str | None = None,
    name: str | None = None,
    data_format: str = "NCHW",
) -> Variable:
    """Transposed convolution ("deconvolution") with a [C_in, num_filters / groups, kh, kw]
    filter (`conv2d_transpose_N.w_0`), a [num_filters] bias and an optional act. The output
    is (in - 1) * stride - 2 * padding + dilation * (k - 1) + 1 per spatial dim, or
    `output_size` (at most stride - 1 more); without filter_size, output_size sets it.

        up = mg.layers.conv2d_transpose(x, num_filters=8, filter_size=4, stride=2, padding=1)  # 2x larger
    """
    helper = LayerHelper("conv2d_transpose", name)
    where = helper.name
    _check_image(where, input, data_format)
    groups = 1 if groups is None else int(groups)
    paddings, algo = padding_attrs(where, padding)
    if algo != "EXPLICIT":
        raise GraphBuildError(f"{where}: padding must be numbers ('SAME'/'VALID' are not supported here)")
    strides, dilations = _pair(where, "stride", stride, 1), _pair(where, "dilation", dilation, 1)
    sizes = [] if output_size is None else _pair(where, "output_size", output_size, 1)
    hw = [input.shape[a] for a in spatial_axes(data_format)]
    if filter_size is None:
        if not sizes or min(hw) < 0:
            raise GraphBuildError(f"{where}: give filter_size, or output_size with a known input size")
        pads = paddings if len(paddings) == 4 else [paddings[0], paddings[0], paddings[1], paddings[1]]
        filter_size = [
            (sizes[i] - (hw[i] - 1) * strides[i] + pads[2 * i] + pads[2 * i + 1] - 1) // dilations[i] + 1
            for i in range(2)
        ]
    kh, kw = _pair(where, "filter_size", filter_size, 1)
    channels = input.shape[channel_axis(data_format)]
    if channels < 1 or not isinstance(num_filters, int) or num_filters % groups:
        raise GraphBuildError(f"{where}: needs known input channels and num_filters divisible by groups={groups}")
    pattr = ParamAttr.to_attr(param_attr)
    if pattr is False:
        raise GraphBuildError(f"{where}: param_attr=False is not allowed; a convolution needs its filter")
    weight = helper.create_parameter(pattr, (channels, num_filters // groups, kh, kw), input.dtype)
    attrs = {
        "strides": strides,
        "paddings": paddings,
        "dilations": dilations,
        "groups": groups,
        "data_format": data_format,
        "output_size": sizes,
    }
    out = helper.emit("conv2d_transpose", {"Input": input, "Filter": weight}, attrs, out="Output")
    battr = ParamAttr.to_attr(bias_attr)
    if battr is not False:
        bias = helper.create_parameter(battr, (num_filters,), input.dtype, is_bias=True)
        out = helper.emit("elementwise_add", {"X": out, "Y": bias}, {"axis": channel_axis(data_format)})
    return helper.append_activation(out, act)


def lrn(
    input: Variable,
    n: int = 5,
    k: float = 1.0,
    alpha: float = 1e-4,
    beta: float = 0.75,
    name: str | None = None,
    data_format: str = "NCHW",
) -> Variable:
    """Local response normalisation across channels: x / (k + alpha * sum of x^2 over a
    window of n channels) ** beta (alpha is not divided by n, as in Paddle)."""
    helper = LayerHelper("lrn", name)
    out = helper.create_tmp(input.dtype)
    mid = helper.create_tmp(input.dtype, stop_gradient=True)
    attrs = {"n": int(n), "k": float(k), "alpha": float(alpha), "beta": float(beta), "data_format": data_format}
    helper.append_op("lrn", {"X": input}, {"Out": out, "MidOut": mid}, attrs)
    return out


def _resizer(op: str, method: str, doc: str) -> Any:
    def resize(
        input: Variable,
        out_shape: Any = None,
        scale: float | None = None,
        name: str | None = None,
        actual_shape: Any = None,
        align_corners: bool = True,
        align_mode: int = 1,
        data_format: str = "NCHW",
    ) -> Variable:
        helper = LayerHelper(op, name)
        if actual_shape is not None:
            raise GraphBuildError(f"{helper.name}: actual_shape (a shape tensor) is not supported; pass out_shape")
        if out_shape is None and scale is None:
            raise GraphBuildError(f"{helper.name}: give out_shape or scale")
        oh, ow = (-1, -1) if out_shape is None else _pair(helper.name, "out_shape", list(out_shape), 1)
        attrs = {
            "out_h": oh,
            "out_w": ow,
            "scale": float(scale or 0.0),
            "interp_method": method,
            "align_corners": bool(align_corners),
            "align_mode": int(align_mode),
            "data_layout": data_format,
        }
        return helper.emit(op, {"X": input}, attrs)

    resize.__name__ = resize.__qualname__ = f"resize_{method}"
    resize.__doc__ = doc
    return resize


resize_nearest = _resizer(
    "nearest_interp",
    "nearest",
    """Nearest-neighbour resize of the spatial dims to `out_shape` [h, w] (or by `scale`);
    `align_mode` only matters to bilinear resizing.""",
)
resize_bilinear = _resizer(
    "bilinear_interp",
    "bilinear",
    """Bilinear resize of the spatial dims to `out_shape` [h, w] (or by `scale`), with
    Paddle's corner alignment (`align_corners`) and half-pixel (`align_mode=0`) conventions.""",
)
