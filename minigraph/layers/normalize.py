"""Per-sample normalisation builders: layer_norm, instance_norm, group_norm (the ops are in
minigraph/ops/normalize.py). Scales start at 1 and biases at 0, as batch_norm's do."""

from __future__ import annotations

from typing import Any

from minigraph.errors import GraphBuildError
from minigraph.initializer import Constant
from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper
from minigraph.param_attr import ParamAttr
from minigraph.types import shape_text

__all__ = ["group_norm", "instance_norm", "layer_norm"]


def _normalize(
    op: str,
    input: Variable,
    size: int,
    attrs: dict[str, Any],
    stat_slots: tuple[str, str],
    param_attr: Any,
    bias_attr: Any,
    act: str | None,
    name: str | None,
) -> Variable:
    """Append `op` with a Scale and a Bias of `size` values (either left out when its attr
    is False) and return Y after `act`."""
    helper = LayerHelper(op, name)
    if size < 0:
        raise GraphBuildError(f"{helper.name}: {input.name!r} {shape_text(input.shape)} has unknown normalised dims")
    inputs: dict[str, Any] = {"X": input}
    for slot, arg, value in (("Scale", param_attr, 1.0), ("Bias", bias_attr, 0.0)):
        attr = ParamAttr.to_attr(arg)
        if attr is not False:
            inputs[slot] = helper.create_parameter(
                attr, (size,), input.dtype, is_bias=slot == "Bias", default_initializer=Constant(value)
            )
    y = helper.create_tmp(input.dtype)
    mean, var = (helper.create_tmp(input.dtype, stop_gradient=True) for _ in range(2))
    helper.append_op(op, inputs, {"Y": y, stat_slots[0]: mean, stat_slots[1]: var}, attrs)
    return helper.append_activation(y, act)


def _product(dims: Any) -> int:
    out = 1
    for d in dims:
        if d < 0:
            return -1
        out *= d
    return out


def layer_norm(
    input: Variable,
    scale: bool = True,
    shift: bool = True,
    begin_norm_axis: int = 1,
    epsilon: float = 1e-05,
    param_attr: Any = None,
    bias_attr: Any = None,
    act: str | None = None,
    name: str | None = None,
) -> Variable:
    """Normalise each sample over the dims from `begin_norm_axis` on, then scale and shift
    by parameters covering those dims (`scale=False` / `shift=False` leave them out)."""
    size = _product(input.shape[begin_norm_axis:])
    attrs = {"epsilon": float(epsilon), "begin_norm_axis": int(begin_norm_axis)}
    return _normalize(
        "layer_norm",
        input,
        size,
        attrs,
        ("Mean", "Variance"),
        param_attr if scale else False,
        bias_attr if shift else False,
        act,
        name,
    )


def instance_norm(
    input: Variable, epsilon: float = 1e-05, param_attr: Any = None, bias_attr: Any = None, name: str | None = None
) -> Variable:
    """Normalise each (sample, channel) plane of an [N, C, ...] input; per-channel scale and bias."""
    attrs = {"epsilon": float(epsilon)}
    channels = input.shape[1] if len(input.shape) > 1 else -1
    return _normalize(
        "instance_norm", input, channels, attrs, ("SavedMean", "SavedVariance"), param_attr, bias_attr, None, name
    )


def group_norm(
    input: Variable,
    groups: int,
    epsilon: float = 1e-05,
    param_attr: Any = None,
    bias_attr: Any = None,
    act: str | None = None,
    data_layout: str = "NCHW",
    name: str | None = None,
) -> Variable:
    """Normalise each sample over groups of `C / groups` consecutive channels (NCHW);
    per-channel scale and bias."""
    attrs = {"epsilon": float(epsilon), "groups": int(groups), "data_layout": data_layout}
    channels = input.shape[1] if len(input.shape) > 1 else -1
    return _normalize("group_norm", input, channels, attrs, ("Mean", "Variance"), param_attr, bias_attr, act, name)
