"""Activation builders: each appends one op `X -> Out` and returns Out (`relu_0.tmp_0`, ...)."""

from __future__ import annotations

from typing import Any

from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper

__all__ = [
    "abs",
    "exp",
    "leaky_relu",
    "log",
    "log_softmax",
    "relu",
    "sigmoid",
    "softmax",
    "sqrt",
    "square",
    "tanh",
]


def _unary(op: str, x: Variable, name: str | None, attrs: dict[str, Any] | None = None) -> Variable:
    helper = LayerHelper(op, name)
    out = helper.create_tmp(x.dtype)
    helper.append_op(op, {"X": x}, {"Out": out}, attrs)
    return out


def relu(x: Variable, name: str | None = None) -> Variable:
    """max(x, 0). Example: `h = mg.layers.relu(x)`."""
    return _unary("relu", x, name)


def sigmoid(x: Variable, name: str | None = None) -> Variable:
    """1 / (1 + exp(-x)), computed without overflow."""
    return _unary("sigmoid", x, name)


def tanh(x: Variable, name: str | None = None) -> Variable:
    """The hyperbolic tangent."""
    return _unary("tanh", x, name)


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


def exp(x: Variable, name: str | None = None) -> Variable:
    """e ** x."""
    return _unary("exp", x, name)


def log(x: Variable, name: str | None = None) -> Variable:
    """The natural logarithm (nan for negative inputs, -inf at 0)."""
    return _unary("log", x, name)


def sqrt(x: Variable, name: str | None = None) -> Variable:
    """The square root (nan for negative inputs)."""
    return _unary("sqrt", x, name)


def square(x: Variable, name: str | None = None) -> Variable:
    """x * x."""
    return _unary("square", x, name)


def abs(x: Variable, name: str | None = None) -> Variable:
    """|x|."""
    return _unary("abs", x, name)
