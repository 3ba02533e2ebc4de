"""Arithmetic builders: elementwise binaries, clip, scale, matmul."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper


def _elementwise(op: str, doc: str) -> Callable[..., Variable]:
    def layer(x: Variable, y: Variable, axis: int = -1, act: str | None = None, name: str | None = None) -> Variable:
        helper = LayerHelper(op, name)
        return helper.append_activation(helper.emit(op, {"X": x, "Y": y}, {"axis": axis}), act)

    layer.__name__ = layer.__qualname__ = op
    layer.__doc__ = doc + "; y's dims align with x's starting at `axis` (-1: numpy broadcasting)."
    return layer


elementwise_add = _elementwise("elementwise_add", "x + y")
elementwise_sub = _elementwise("elementwise_sub", "x - y")
elementwise_mul = _elementwise("elementwise_mul", "x * y")
elementwise_div = _elementwise("elementwise_div", "x / y")
elementwise_max = _elementwise("elementwise_max", "The larger of x and y")
elementwise_min = _elementwise("elementwise_min", "The smaller of x and y")
elementwise_pow = _elementwise("elementwise_pow", "x ** y")


def clip(x: Variable, min: float, max: float, name: str | None = None) -> Variable:
    """x limited to [min, max]; the gradient passes only strictly inside."""
    return LayerHelper("clip", name).emit("clip", {"X": x}, {"min": float(min), "max": float(max)})


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
    attrs = {"scale": float(scale), "bias": float(bias), "bias_after_scale": bias_after_scale}
    return helper.append_activation(helper.emit("scale", {"X": x}, attrs), act)


def matmul(
    x: Variable,
    y: Variable,
    transpose_x: bool = False,
    transpose_y: bool = False,
    alpha: float = 1.0,
    name: str | None = None,
) -> Variable:
    """Batched matrix product with numpy's broadcasting of leading dims."""
    attrs = {"transpose_X": transpose_x, "transpose_Y": transpose_y, "alpha": float(alpha)}
    return LayerHelper("matmul", name).emit("matmul", {"X": x, "Y": y}, attrs)


def mul(
    x: Variable, y: Variable, x_num_col_dims: int = 1, y_num_col_dims: int = 1, name: str | None = None
) -> Variable:
    attrs = {"x_num_col_dims": x_num_col_dims, "y_num_col_dims": y_num_col_dims}
    return LayerHelper("mul", name).emit("mul", {"X": x, "Y": y}, attrs)


__all__: list[Any] = [
    "elementwise_add",
    "elementwise_sub",
    "elementwise_mul",
    "elementwise_div",
    "elementwise_max",
    "elementwise_min",
    "elementwise_pow",
    "clip",
    "scale",
    "matmul",
    "mul",
]
