"""Activation builders: each appends one op `X -> Out` and returns Out (`relu_0.tmp_0`, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper

__all__ = [
    "abs",
    "ceil",
    "cos",
    "floor",
    "exp",
    "leaky_relu",
    "log",
    "log_softmax",
    "pow",
    "relu",
    "sigmoid",
    "sin",
    "softmax",
    "sqrt",
    "square",
    "tanh",
]


def _unary(op: str, x: Variable, name: str | None, attrs: dict[str, Any] | None = None) -> Variable:
    return LayerHelper(op, name).emit(op, {"X": x}, attrs)


def _activation(op: str, doc: str) -> Callable[..., Variable]:
    def layer(x: Variable, name: str | None = None) -> Variable:
        return _unary(op, x, name)

    layer.__name__ = layer.__qualname__ = op
    layer.__doc__ = doc
    return layer


relu = _activation("relu", "max(x, 0). Example: `h = mg.layers.relu(x)`.")
sigmoid = _activation("sigmoid", "1 / (1 + exp(-x)), computed without overflow.")
tanh = _activation("tanh", "The hyperbolic tangent.")


def leaky_relu(x: Variable, alpha: float = 0.02, name: str | None = None) -> Variable:
    """x where x > 0, else alpha * x."""
    return _unary("leaky_relu", x, name, {"alpha": float(alpha)})


def softmax(input: Variable, axis: int = -1, name: str | None = None, use_cudnn: bool = False) -> Variable:
    """exp(x) / sum(exp(x)) along `axis` (max-subtracted, so it never overflows).
    `use_cudnn` is accepted for ported scripts and ignored."""
    return _unary("softmax", input, name, {"axis": int(axis)})


def log_softmax(input: Variable, axis: int = -1, name: str | None = None) -> Variable:
    """log(softmax(x)) along `axis`, computed stably as x - max - log(sum(exp(x - max)))."""
    return _unary("log_softmax", input, name, {"axis": int(axis)})


exp = _activation("exp", "e ** x.")
log = _activation("log", "The natural logarithm (nan for negative inputs, -inf at 0).")
sqrt = _activation("sqrt", "The square root (nan for negative inputs).")
square = _activation("square", "x * x.")
abs = _activation("abs", "|x|.")
cos = _activation("cos", "The cosine.")
sin = _activation("sin", "The sine.")
floor = _activation("floor", "The largest integer <= x (its gradient is 0).")
ceil = _activation("ceil", "The smallest integer >= x (its gradient is 0).")


def pow(x: Variable, factor: float = 1.0, name: str | None = None) -> Variable:
    """x ** factor (a number; `elementwise_pow` takes a variable exponent)."""
    return _unary("pow", x, name, {"factor": float(factor)})
