"""Arithmetic builders: elementwise binaries, scale, matmul."""

from __future__ import annotations

from typing import Any

from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper


def _elementwise(op: str, x: Variable, y: Variable, axis: int, act: str | None, name: str | None) -> Variable:
    helper = LayerHelper(op, name)
    out = helper.create_tmp(x.dtype)
    helper.append_op(op, {"X": x, "Y": y}, {"Out": out}, {"axis": axis})
    return helper.append_activation(out, act)


def elementwise_add(
    x: Variable, y: Variable, axis: int = -1, act: str | None = None, name: str | None = None
) -> Variable:
    """x + y, with y's dims aligned to x's starting at `axis` (-1: numpy broadcasting)."""
    return _elementwise("elementwise_add", x, y, axis, act, name)


def elementwise_sub(
    x: Variable, y: Variable, axis: int = -1, act: str | None = None, name: str | None = None
) -> Variable:
    return _elementwise("elementwise_sub", x, y, axis, act, name)


def elementwise_mul(
    x: Variable, y: Variable, axis: int = -1, act: str | None = None, name: str | None = None
) -> Variable:
    return _elementwise("elementwise_mul", x, y, axis, act, name)


def elementwise_div(
    x: Variable, y: Variable, axis: int = -1, act: str | None = None, name: str | None = None
) -> Variable:
    return _elementwise("elementwise_div", x, y, axis, act, name)


def elementwise_max(
    x: Variable, y: Variable, axis: int = -1, act: str | None = None, name: str | None = None
) -> Variable:
    return _elementwise("elementwise_max", x, y, axis, act, name)


def elementwise_min(
    x: Variable, y: Variable, axis: int = -1, act: str | None = None, name: str | None = None
) -> Variable:
    return _elementwise("elementwise_min", x, y, axis, act, name)


def scale(
    x: Variable,
    scale: float = 1.0,
    bias: float = 0.0,
    bias_after_scale: bool = True,
    act: str | None = None,
    name: str | None = None,
) -> Variable:
    """scale * x + bias (or scale * (x + bias) with bias_after_scale=False)."""
    helper = LayerHelper("scale", name)
    out = helper.create_tmp(x.dtype)
    helper.append_op(
        "scale",
        {"X": x},
        {"Out": out},
        {"scale": float(scale), "bias": float(bias), "bias_after_scale": bias_after_scale},
    )
    return helper.append_activation(out, act)


def matmul(
    x: Variable,
    y: Variable,
    transpose_x: bool = False,
    transpose_y: bool = False,
    alpha: float = 1.0,
    name: str | None = None,
) -> Variable:
    """Batched matrix product with numpy's broadcasting of leading dims."""
    helper = LayerHelper("matmul", name)
    out = helper.create_tmp(x.dtype)
    helper.append_op(
        "matmul",
        {"X": x, "Y": y},
        {"Out": out},
        {"transpose_X": transpose_x, "transpose_Y": transpose_y, "alpha": float(alpha)},
    )
    return out


def mul(
    x: Variable, y: Variable, x_num_col_dims: int = 1, y_num_col_dims: int = 1, name: str | None = None
) -> Variable:
    helper = LayerHelper("mul", name)
    out = helper.create_tmp(x.dtype)
    helper.append_op(
        "mul", {"X": x, "Y": y}, {"Out": out}, {"x_num_col_dims": x_num_col_dims, "y_num_col_dims": y_num_col_dims}
    )
    return out


__all__: list[Any] = [
    "elementwise_add",
    "elementwise_sub",
    "elementwise_mul",
    "elementwise_div",
    "elementwise_max",
    "elementwise_min",
    "scale",
    "matmul",
    "mul",
]
