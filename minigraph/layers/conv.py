"""conv2d, pool2d and dropout: the functional builders, and the pieces nn.Conv2D, nn.Pool2D
and nn.Dropout share with them."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from minigraph.errors import ArgumentTypeError, GraphBuildError
from minigraph.initializer import Initializer, Normal
from minigraph.ir.variable import Parameter, Variable
from minigraph.layers.helper import LayerHelper
from minigraph.ops.dropout import DROPOUT_IMPLEMENTATIONS
from minigraph.ops.layout import LAYOUTS, channel_axis
from minigraph.ops.spatial import POOL_TYPES, geometry, spatial_axes
from minigraph.param_attr import ParamAttr
from minigraph.types import shape_text

__all__ = ["conv2d", "dropout", "pool2d"]


# --- argument normalisation -------------------------------------------------------------


def _pair(where: str, what: str, value: Any, low: int) -> list[int]:
    """An int or a pair of ints (height, width), each >= low."""
    values = [value, value] if _is_int(value) else value
    if not isinstance(values, (list, tuple)) or len(values) != 2 or not all(_is_int(v) for v in values):
        raise GraphBuildError(f"{where}: {what} must be an int or a pair of ints, got {value!r}")
    if any(v < low for v in values):
        raise GraphBuildError(f"{where}: {what} must be >= {low}, got {value!r}")
    return [int(v) for v in values]


def _is_int(v: Any) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def padding_attrs(where: str, padding: Any) -> tuple[list[int], str]:
    """(paddings attr, padding_algorithm) from an int, a pair (ph, pw), a 4-tuple
    (top, bottom, left, right), or "SAME"/"VALID". A symmetric 4-tuple becomes a pair, as in Paddle."""
    if isinstance(padding, str):
        algo = padding.upper()
        if algo not in ("SAME", "VALID"):
            raise GraphBuildError(f"{where}: padding must be a number, a list, 'SAME' or 'VALID', got {padding!r}")
        return [0, 0], algo
    if isinstance(padding, (list, tuple)) and len(padding) == 4:
        if not all(_is_int(v) and v >= 0 for v in padding):
            raise GraphBuildError(f"{where}: padding must hold non-negative ints, got {padding!r}")
        top, bottom, left, right = (int(v) for v in padding)
        return ([top, left] if (top, left) == (bottom, right) else [top, bottom, left, right]), "EXPLICIT"
    return _pair(where, "padding (int, pair or 4-tuple top/bottom/left/right)", padding, 0), "EXPLICIT"


def _check_layout(where: str, data_format: str) -> None:
    if data_format not in LAYOUTS:
        raise GraphBuildError(f"{where}: data_format must be one of {LAYOUTS}, got {data_format!r}")


def _check_image(where: str, input: Any, data_format: str) -> None:
    if not isinstance(input, Variable):
        raise ArgumentTypeError(f"{where}: input must be a Variable, got {type(input).__name__}")
    if len(input.shape) != 4:
        layout = "[N, C, H, W]" if data_format == "NCHW" else "[N, H, W, C]"
        raise GraphBuildError(
            f"{where}: input {input.name!r} must be 4-D {layout} ({data_format}), got {shape_text(input.shape)}"
        )


# --- conv2d -----------------------------------------------------------------------------


def conv2d_setup(
    where: str,
    num_channels: int,
    num_filters: int,
    filter_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    data_format: str,
) -> tuple[dict[str, Any], tuple[int, ...], Initializer]:
    """Check the arguments; return the conv2d op attrs, the filter shape and its default
    initializer: Paddle's Normal(0, sqrt(2 / (kh * kw * num_channels))), where num_channels is
    the full input channel count (Paddle does not divide it by groups)."""
    _check_layout(where, data_format)
    groups = 1 if groups is None else groups
    if not _is_int(num_filters) or num_filters < 1:
        raise GraphBuildError(f"{where}: num_filters must be a positive int, got {num_filters!r}")
    if not _is_int(groups) or groups < 1:
        raise GraphBuildError(f"{where}: groups must be a positive int, got {groups!r}")
    if not _is_int(num_channels) or num_channels < 1:
        raise GraphBuildError(f"{where}: the number of input channels must be known and positive, got {num_channels}")
    if num_channels % groups:
        raise GraphBuildError(f"{where}: conv2d input channels ({num_channels}) are not divisible by groups={groups}")
    if num_filters % groups:
        raise GraphBuildError(f"{where}: conv2d num_filters ({num_filters}) is not divisible by groups={groups}")
    kh, kw = _pair(where, "filter_size", filter_size, 1)
    paddings, algo = padding_attrs(where, padding)
    attrs = {
        "strides": _pair(where, "stride", stride, 1),
        "paddings": paddings,
        "dilations": _pair(where, "dilation", dilation, 1),
        "groups": int(groups),
        "data_format": data_format,
        "padding_algorithm": algo,
    }
    shape = (int(num_filters), int(num_channels) // int(groups), kh, kw)
    return attrs, shape, Normal(0.0, math.sqrt(2.0 / (kh * kw * num_channels)))


def append_conv2d(
    helper: LayerHelper,
    input: Variable,
    filter: Parameter,
    bias: Parameter | None,
    attrs: dict[str, Any],
    act: str | None,
) -> Variable:
    """conv2d -> Output (tmp_0); the bias as an elementwise_add over the channel axis (tmp_1);
    then act (tmp_2)."""
    out = helper.create_tmp(input.dtype)
    helper.append_op("conv2d", {"Input": input, "Filter": filter}, {"Output": out}, attrs)
    if bias is not None:
        biased = helper.create_tmp(input.dtype)
        axis = channel_axis(attrs["data_format"])
        helper.append_op("elementwise_add", {"X": out, "Y": bias}, {"Out": biased}, {"axis": axis})
        out = biased
    return helper.append_activation(out, act)


def conv2d(
    input: Variable,
    num_filters: int,
    filter_size: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    param_attr: Any = None,
    bias_attr: Any = None,
    act: str | None = None,
    name: str | None = None,
    data_format: str = "NCHW",
    use_cudnn: bool = True,
) -> Variable:
    """2-D convolution with a [num_filters, C / groups, kh, kw] filter (`conv2d_N.w_0`), a
    [num_filters] bias (`conv2d_N.b_0`, skipped with bias_attr=False) and an optional act.

    `padding` is an int, a pair, a 4-tuple (top, bottom, left, right) or "SAME"/"VALID".
    `groups=None` means 1 and `use_cudnn` is accepted and ignored, as fluid scripts pass them.

        x = mg.data("x", [None, 3, 32, 32])
        y = mg.layers.conv2d(x, num_filters=8, filter_size=3, padding=1, act="relu")  # [-1, 8, 32, 32]
    """
    helper = LayerHelper("conv2d", name)
    _check_layout(helper.name, data_format)
    _check_image(helper.name, input, data_format)
    num_channels = input.shape[channel_axis(data_format)]
    attrs, shape, init = conv2d_setup(
        helper.name, num_channels, num_filters, filter_size, stride, padding, dilation, groups, data_format
    )
    # Check the window geometry before creating parameters, so a bad call leaves no orphans.
    try:
        h, w = spatial_axes(data_format)
        geometry(
            (input.shape[h], input.shape[w]),
            shape[2:],
            attrs["strides"],
            attrs["dilations"],
            attrs["paddings"],
            attrs["padding_algorithm"],
        )
    except GraphBuildError as e:
        raise GraphBuildError(f"{helper.name}: conv2d on {input.name!r} {shape_text(input.shape)}: {e}") from None
    pattr = ParamAttr.to_attr(param_attr)
    if pattr is False:
        raise GraphBuildError(f"{helper.name}: param_attr=False is not allowed; a convolution needs its filter")
    weight = helper.create_parameter(pattr, shape, input.dtype, default_initializer=init)
    battr = ParamAttr.to_attr(bias_attr)
    bias = None if battr is False else helper.create_parameter(battr, (num_filters,), input.dtype, is_bias=True)
    return append_conv2d(helper, input, weight, bias, attrs, act)


# --- pool2d -----------------------------------------------------------------------------


def pool2d_attrs(
    where: str,
    pool_size: Any,
    pool_type: str,
    pool_stride: Any,
    pool_padding: Any,
    global_pooling: bool,
    ceil_mode: bool,
    exclusive: bool,
    data_format: str,
) -> dict[str, Any]:
    """Check the arguments and return the pool2d op attrs."""
    _check_layout(where, data_format)
    if pool_type not in POOL_TYPES:
        raise GraphBuildError(f"{where}: pool2d pool_type must be one of {POOL_TYPES}, got {pool_type!r}")
    if global_pooling:
        ksize = [int(pool_size)] * 2 if _is_int(pool_size) else [int(v) for v in pool_size]
    elif pool_size == -1:
        raise GraphBuildError(f"{where}: pool2d needs pool_size unless global_pooling=True")
    else:
        ksize = _pair(where, "pool_size", pool_size, 1)
    paddings, algo = padding_attrs(where, pool_padding)
    return {
        "pooling_type": pool_type,
        "ksize": ksize,
        "strides": _pair(where, "pool_stride", pool_stride, 1),
        "paddings": paddings,
        "global_pooling": bool(global_pooling),
        "ceil_mode": bool(ceil_mode),
        "exclusive": bool(exclusive),
        "data_format": data_format,
        "padding_algorithm": algo,
    }


def append_pool2d(helper: LayerHelper, input: Variable, attrs: dict[str, Any]) -> Variable:
    _check_image(helper.name, input, attrs["data_format"])
    out = helper.create_tmp(input.dtype)
    helper.append_op("pool2d", {"X": input}, {"Out": out}, attrs)
    return out


def pool2d(
    input: Variable,
    pool_size: Any = -1,
    pool_type: str = "max",
    pool_stride: Any = 1,
    pool_padding: Any = 0,
    global_pooling: bool = False,
    ceil_mode: bool = False,
    exclusive: bool = True,
    data_format: str = "NCHW",
    name: str | None = None,
    use_cudnn: bool = True,
) -> Variable:
    """Max or average pooling over kh x kw windows. Average pooling divides by the number of
    input elements in each window (`exclusive=True`, the default) or, with
    `exclusive=False`, by the window's cells inside the padded input (padding counts; the
    cells `ceil_mode` adds past the padded border do not, as in Paddle); `ceil_mode` rounds
    the output size up; `global_pooling` pools each whole plane to 1x1. `use_cudnn` is
    accepted and ignored.

        y = mg.layers.pool2d(x, pool_size=2, pool_type="max", pool_stride=2)
    """
    helper = LayerHelper("pool2d", name)
    attrs = pool2d_attrs(
        helper.name, pool_size, pool_type, pool_stride, pool_padding, global_pooling, ceil_mode, exclusive, data_format
    )
    return append_pool2d(helper, input, attrs)


# --- dropout ----------------------------------------------------------------------------


def dropout_attrs(
    where: str, dropout_prob: Any, is_test: bool, seed: int | None, dropout_implementation: str
) -> dict[str, Any]:
    """The dropout op attrs. A given seed sets fix_seed (the same mask on every run); with
    seed=None the executor derives one from Program.random_seed when that is set, else the
    mask is fresh each run."""
    if isinstance(dropout_prob, bool) or not isinstance(dropout_prob, Real) or not 0 <= dropout_prob <= 1:
        raise GraphBuildError(f"{where}: dropout_prob must be a number in [0, 1], got {dropout_prob!r}")
    if dropout_implementation not in DROPOUT_IMPLEMENTATIONS:
        raise GraphBuildError(
            f"{where}: dropout_implementation must be one of {DROPOUT_IMPLEMENTATIONS}, got {dropout_implementation!r}"
        )
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise GraphBuildError(f"{where}: seed must be a non-negative int or None, got {seed!r}")
    return {
        "dropout_prob": float(dropout_prob),
        "is_test": bool(is_test),
        "fix_seed": seed is not None,
        "seed": 0 if seed is None else int(seed),
        "dropout_implementation": dropout_implementation,
    }


def append_dropout(helper: LayerHelper, x: Variable, attrs: dict[str, Any]) -> Variable:
    """dropout -> Out (tmp_0) and a uint8 Mask (tmp_1, stop_gradient)."""
    out = helper.create_tmp(x.dtype)
    mask = helper.create_tmp("uint8", stop_gradient=True)
    helper.append_op("dropout", {"X": x}, {"Out": out, "Mask": mask}, attrs)
    return out


def dropout(
    x: Variable,
    dropout_prob: float,
    is_test: bool = False,
    seed: int | None = None,
    dropout_implementation: str = "downgrade_in_infer",
    name: str | None = None,
) -> Variable:
    """Zero each element with probability `dropout_prob`.

    "downgrade_in_infer": training gives x * mask, testing x * (1 - p).
    "upscale_in_train": training gives x * mask / (1 - p) (zeros when p == 1), testing x.
    `clone(for_test=True)` sets is_test=True.

        h = mg.layers.dropout(h, dropout_prob=0.5, seed=1)
    """
    helper = LayerHelper("dropout", name)
    return append_dropout(helper, x, dropout_attrs(helper.name, dropout_prob, is_test, seed, dropout_implementation))
