"""Layers with parameters: fc (conv2d, batch_norm and friends live in their own modules)."""

from __future__ import annotations

from typing import Any

from minigraph.errors import ArgumentTypeError, GraphBuildError
from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper
from minigraph.param_attr import ParamAttr
from minigraph.types import shape_text


def fc(
    input: Any,
    size: int,
    num_flatten_dims: int = 1,
    param_attr: Any = None,
    bias_attr: Any = None,
    act: str | None = None,
    name: str | None = None,
) -> Variable:
    """Fully connected: flatten input dims from `num_flatten_dims` on, multiply by a
    [in_features, size] weight (`mul`), add a [size] bias (`elementwise_add`), then `act`.
    A list of inputs gets one weight each and their products summed."""
    helper = LayerHelper("fc", name)
    inputs = list(input) if isinstance(input, (list, tuple)) else [input]
    for x in inputs:
        if not isinstance(x, Variable):
            raise ArgumentTypeError(f"{helper.name}: input must be a Variable or a list of Variables, got {x!r}")
    if not isinstance(size, int) or size <= 0:
        raise GraphBuildError(f"{helper.name}: size must be a positive int, got {size!r}")
    attrs = param_attr if isinstance(param_attr, (list, tuple)) else [param_attr] * len(inputs)
    products = []
    for x, pattr in zip(inputs, attrs):
        if not 0 < num_flatten_dims < len(x.shape):
            raise GraphBuildError(
                f"{helper.name}: num_flatten_dims={num_flatten_dims} needs an input of "
                f"rank > {num_flatten_dims}, got {x.name!r} {shape_text(x.shape)}"
            )
        in_features = 1
        for d in x.shape[num_flatten_dims:]:
            if d < 0:
                raise GraphBuildError(
                    f"{helper.name}: input {x.name!r} {shape_text(x.shape)} has an unknown "
                    f"feature dimension; only leading dims may be -1"
                )
            in_features *= d
        w = helper.create_parameter(ParamAttr.to_attr(pattr), (in_features, size), x.dtype)
        out = helper.create_tmp(x.dtype)
        helper.append_op(
            "mul", {"X": x, "Y": w}, {"Out": out}, {"x_num_col_dims": num_flatten_dims, "y_num_col_dims": 1}
        )
        products.append(out)
    pre_bias = products[0]
    if len(products) > 1:
        pre_bias = helper.create_tmp(inputs[0].dtype)
        helper.append_op("sum", {"X": products}, {"Out": pre_bias})
    battr = ParamAttr.to_attr(bias_attr)
    if battr is not False:
        b = helper.create_parameter(battr, (size,), inputs[0].dtype, is_bias=True)
        out = helper.create_tmp(inputs[0].dtype)
        helper.append_op("elementwise_add", {"X": pre_bias, "Y": b}, {"Out": out}, {"axis": num_flatten_dims})
        pre_bias = out
    return helper.append_activation(pre_bias, act)
