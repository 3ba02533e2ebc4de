"""batch_norm: the functional builder, and the pieces nn.BatchNorm shares with it."""

from __future__ import annotations

from typing import Any

from minigraph.errors import ArgumentTypeError, GraphBuildError, OpTypeError
from minigraph.initializer import Constant
from minigraph.ir.variable import Parameter, Variable
from minigraph.layers.helper import LayerHelper
from minigraph.ops.norm import BN_DTYPES, channel_axis, check_hyper, check_layout, check_rank
from minigraph.param_attr import ParamAttr
from minigraph.types import shape_text

__all__ = ["batch_norm"]


def check_momentum(where: str, momentum: Any) -> None:
    """A Variable momentum (Paddle's MomentumTensor) is refused, never silently replaced."""
    if isinstance(momentum, Variable):
        raise GraphBuildError(
            f"{where}: momentum given as a Variable is not supported; pass a Python float in [0, 1] "
            f"(Paddle 3.3.1 silently uses 0.9 in that case)"
        )


def affine_attr(arg: Any, default: float) -> ParamAttr:
    """Scale/bias attr; False means a fixed, non-trainable parameter held at `default`
    (the op always needs Scale and Bias)."""
    attr = ParamAttr.to_attr(arg)
    if attr is False:
        return ParamAttr(initializer=Constant(default), trainable=False)
    return attr


def stat_attr(name: str | None, value: float, do_model_average: bool) -> ParamAttr:
    """A moving statistic: a non-trainable parameter initialised to `value`; a name shares it."""
    return ParamAttr(name=name, initializer=Constant(value), trainable=False, do_model_average=do_model_average)


def append_batch_norm(
    helper: LayerHelper,
    input: Variable,
    params: tuple[Parameter, Parameter, Parameter, Parameter],
    attrs: dict[str, Any],
    in_place: bool,
    act: str | None,
    op_type: str = "batch_norm",
) -> Variable:
    """Append one batch_norm op (or `op_type`: sync_batch_norm) and its act, reading
    `params` = (scale, bias, mean, var). MeanOut/VarianceOut are the statistics themselves;
    with in_place, Y is the input."""
    scale, bias, mean, variance = params
    dtype = input.dtype
    saved_mean = helper.create_tmp(dtype, stop_gradient=True)
    saved_variance = helper.create_tmp(dtype, stop_gradient=True)
    y = input if in_place else helper.create_tmp(dtype)
    helper.append_op(
        op_type,
        {"X": input, "Scale": scale, "Bias": bias, "Mean": mean, "Variance": variance},
        {
            "Y": y,
            "MeanOut": mean,
            "VarianceOut": variance,
            "SavedMean": saved_mean,
            "SavedVariance": saved_variance,
        },
        attrs,
    )
    return helper.append_activation(y, act)


def input_channels(where: str, input: Variable, data_layout: str) -> int:
    """The channel count of `input` under `data_layout`, after checking rank and layout."""
    if not isinstance(input, Variable):
        raise ArgumentTypeError(f"{where}: input must be a Variable, got {type(input).__name__}")
    if input.dtype not in BN_DTYPES:
        raise OpTypeError(
            f"{where}: the data type of input {input.name!r} must be float32 or float64, but received {input.dtype}"
        )
    shape = tuple(input.shape)
    try:
        check_layout(data_layout)
        check_rank(shape)
    except GraphBuildError as e:
        raise GraphBuildError(f"{where}: input {input.name!r}: {e}") from None
    axis = channel_axis(data_layout, len(shape))
    channels = shape[axis]
    if channels < 0:
        raise GraphBuildError(
            f"{where}: input {input.name!r} {shape_text(shape)} has an unknown channel dimension "
            f"(axis {axis} under data_layout={data_layout!r})"
        )
    return channels


def batch_norm(
    input: Variable,
    act: str | None = None,
    is_test: bool = False,
    momentum: float = 0.9,
    epsilon: float = 1e-05,
    param_attr: Any = None,
    bias_attr: Any = None,
    data_layout: str = "NCHW",
    in_place: bool = False,
    name: str | None = None,
    moving_mean_name: str | None = None,
    moving_variance_name: str | None = None,
    do_model_average_for_mean_and_var: bool = True,
    use_global_stats: bool = False,
) -> Variable:
    """Batch normalisation over every axis but the channel axis (1 for NCHW, last for NHWC).

    Creates `batch_norm_N.w_0` (scale, 1), `.b_0` (bias, 0) and the moving statistics
    `.w_1` / `.w_2` (or `moving_mean_name` / `moving_variance_name`; non-trainable, 0 and 1,
    shared by every batch_norm that names them). Training (is_test=False) normalises with the
    batch statistics and blends them into the moving ones (momentum weights the old value;
    the variance is the biased one); is_test=True or use_global_stats=True normalises with
    the moving statistics and leaves them unchanged. `act` is appended as its own op.
    With in_place=True, Y is written over `input` (returned when act is None); gradients are
    the same as without it.

        y = mg.layers.batch_norm(x, act="relu", moving_mean_name="bn_mean", moving_variance_name="bn_var")
    """
    helper = LayerHelper("batch_norm", name)
    where = helper.name
    check_momentum(where, momentum)
    channels = input_channels(where, input, data_layout)
    try:
        check_hyper(epsilon, momentum)
    except GraphBuildError as e:
        raise GraphBuildError(f"{where}: {e}") from None
    dtype = input.dtype
    shape = (channels,)
    scale = helper.create_parameter(affine_attr(param_attr, 1.0), shape, dtype, default_initializer=Constant(1.0))
    bias = helper.create_parameter(
        affine_attr(bias_attr, 0.0), shape, dtype, is_bias=True, default_initializer=Constant(0.0)
    )
    avg = bool(do_model_average_for_mean_and_var)
    mean = helper.create_parameter(stat_attr(moving_mean_name, 0.0, avg), shape, dtype)
    variance = helper.create_parameter(stat_attr(moving_variance_name, 1.0, avg), shape, dtype)
    attrs = {
        "epsilon": epsilon,
        "momentum": momentum,
        "is_test": bool(is_test),
        "data_layout": data_layout,
        "use_global_stats": bool(use_global_stats),
        "trainable_statistics": False,
    }
    return append_batch_norm(helper, input, (scale, bias, mean, variance), attrs, bool(in_place), act)
