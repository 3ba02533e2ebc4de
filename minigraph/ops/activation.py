"""Activations: elementwise nonlinearities (relu, sigmoid, tanh, leaky_relu, exp, log, sqrt,
square, abs, pow, cos, sin, floor, ceil) and the normalising ones along an axis (softmax, log_softmax).

Each forward op `X -> Out` has a grad op `<type>_grad`. A grad op reads `Out` when the
derivative is cheaper from the result (sigmoid, tanh, exp, sqrt, softmax, ...) and `X` when
it needs the input (square, abs, log, leaky_relu), so the executor can free the other one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minigraph.ops.buffers import MIN_BYTES, empty, scrap
from minigraph.ops.common import NO_SECOND_ORDER, norm_axis, require_float, same_as
from minigraph.registry import GradContext, OpDef, register


def _forward_infer(op: str, along_axis: bool) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
    """Out is shaped like X, which must be float; softmax-like ops also check `axis`."""

    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        x = ins["X"]
        require_float(x, f"{op}: X")  # OpTypeError is not prefixed by the block, so name the op here
        if along_axis and x.shape:
            norm_axis(attrs["axis"], len(x.shape), "axis")
        return same_as("X")(ins, attrs)

    return infer


def _grad_infer(src: str) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
    """X@GRAD has the shape and dtype of Out@GRAD (elementwise ops keep the shape)."""

    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        v = ins[src]
        return {"X@GRAD": (v.shape, v.dtype)}

    return infer


def _register_unary(
    name: str,
    forward: Callable[[dict[str, Any], np.ndarray], np.ndarray],
    backward: Callable[[dict[str, Any], np.ndarray, np.ndarray], np.ndarray],
    uses: str,
    attrs: dict[str, Any] | None = None,
    along_axis: bool = False,
) -> None:
    """Register `name` (X -> Out) and `name_grad` (`uses`, Out@GRAD -> X@GRAD), where
    `uses` is "X" or "Out": the forward value the derivative is computed from."""
    attrs = attrs or {}

    def kernel(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
        return (forward(a, x),)

    def grad_kernel(a: dict[str, Any], v: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
        return (backward(a, v, d).astype(d.dtype, copy=False),)

    def grad(g: GradContext) -> None:
        src = g.input("X") if uses == "X" else g.output("Out")
        g.emit(f"{name}_grad", attrs=g.attrs, **{uses: src, "Out@GRAD": g.out_grad("Out"), "X@GRAD": g.in_grad("X")})

    infer = _forward_infer(name, along_axis)
    register(OpDef(name, ("X",), ("Out",), kernel, infer, attrs=dict(attrs), grad=grad))
    register(
        OpDef(
            f"{name}_grad",
            (uses, "Out@GRAD"),
            ("X@GRAD",),
            grad_kernel,
            _grad_infer("Out@GRAD"),
            attrs=dict(attrs),
            no_grad=NO_SECOND_ORDER,
        )
    )


def _c(value: float, like: np.ndarray) -> np.ndarray:
    """A scalar in the array's dtype, so float32 stays float32."""
    return np.asarray(value, dtype=like.dtype)


# --- elementwise ------------------------------------------------------------------------


# NOTE: relu'(0) is taken as 0 (the gradient flows only where the output is positive), as in
# Paddle; reading Out rather than X gives the same mask because relu(x) > 0 iff x > 0.
def _relu(a: dict[str, Any], x: np.ndarray) -> np.ndarray:
    if x.nbytes < MIN_BYTES:
        return np.maximum(x, _c(0, x))
    return np.maximum(x, _c(0, x), out=empty(x.shape, x.dtype))


def relu_grad(a: dict[str, Any], out: np.ndarray, d: np.ndarray) -> np.ndarray:
    if d.nbytes < MIN_BYTES:
        return d * (out > 0)
    positive = np.greater(out, 0, out=empty(out.shape, np.bool_))
    dx = np.multiply(d, positive, out=empty(d.shape, d.dtype))
    scrap(positive)
    return dx


_register_unary("relu", _relu, relu_grad, "Out")


def _sigmoid(a: dict[str, Any], x: np.ndarray) -> np.ndarray:
    # exp(-log(1 + exp(-x))) never overflows, and keeps relative precision for very negative x.
    return np.exp(-np.logaddexp(_c(0, x), -x))


_register_unary("sigmoid", _sigmoid, lambda a, out, d: d * out * (1 - out), "Out")
_register_unary("tanh", lambda a, x: np.tanh(x), lambda a, out, d: d * (1 - out * out), "Out")
_register_unary("exp", lambda a, x: np.exp(x), lambda a, out, d: d * out, "Out")
# NOTE: log and sqrt of values outside their domain give nan (and -inf / inf at 0) with a
# numpy RuntimeWarning, as Paddle gives nan; we do not clip silently.
_register_unary("log", lambda a, x: np.log(x), lambda a, x, d: d / x, "X")
_register_unary("sqrt", lambda a, x: np.sqrt(x), lambda a, out, d: d * _c(0.5, out) / out, "Out")
_register_unary("square", lambda a, x: x * x, lambda a, x, d: d * _c(2, x) * x, "X")
# NOTE: abs'(0) is taken as 0 (np.sign(0) == 0), the subgradient in the middle of [-1, 1].
_register_unary("abs", lambda a, x: np.abs(x), lambda a, x, d: d * np.sign(x), "X")


def _leaky_relu(a: dict[str, Any], x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, x * _c(a["alpha"], x))


def _leaky_relu_grad(a: dict[str, Any], x: np.ndarray, d: np.ndarray) -> np.ndarray:
    # NOTE: at x == 0 the slope is alpha (the x > 0 branch is strict), as in Paddle.
    return d * np.where(x > 0, _c(1, d), _c(a["alpha"], d))


_register_unary("leaky_relu", _leaky_relu, _leaky_relu_grad, "X", attrs={"alpha": 0.02})
_register_unary(
    "pow",
    lambda a, x: np.power(x, _c(a["factor"], x)),
    lambda a, x, d: d * _c(a["factor"], x) * np.power(x, _c(a["factor"] - 1, x)),
    "X",
    attrs={"factor": 1.0},
)
_register_unary("cos", lambda a, x: np.cos(x), lambda a, x, d: -d * np.sin(x), "X")
_register_unary("sin", lambda a, x: np.sin(x), lambda a, x, d: d * np.cos(x), "X")
# NOTE: floor and ceil are flat between integers; their gradient is 0 everywhere, as in Paddle.
_register_unary("floor", lambda a, x: np.floor(x), lambda a, x, d: np.zeros_like(d), "X")
_register_unary("ceil", lambda a, x: np.ceil(x), lambda a, x, d: np.zeros_like(d), "X")


# --- along an axis: softmax, log_softmax ------------------------------------------------


def _axis_of(a: dict[str, Any], x: np.ndarray) -> int | None:
    # A 0-D input is its own (one-element) distribution.
    return None if x.ndim == 0 else a["axis"] % x.ndim


def _softmax(a: dict[str, Any], x: np.ndarray) -> np.ndarray:
    axis = _axis_of(a, x)
    # Subtracting the max keeps exp() from overflowing; the result is unchanged.
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_grad(a: dict[str, Any], out: np.ndarray, d: np.ndarray) -> np.ndarray:
    # dx = s * (d - sum(d * s)): the Jacobian-vector product of softmax.
    return out * (d - (d * out).sum(axis=_axis_of(a, out), keepdims=True))


def _log_softmax(a: dict[str, Any], x: np.ndarray) -> np.ndarray:
    axis = _axis_of(a, x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _log_softmax_grad(a: dict[str, Any], out: np.ndarray, d: np.ndarray) -> np.ndarray:
    # dx = d - softmax * sum(d), with softmax = exp(log_softmax).
    return d - np.exp(out) * d.sum(axis=_axis_of(a, out), keepdims=True)


_register_unary("softmax", _softmax, _softmax_grad, "Out", attrs={"axis": -1}, along_axis=True)
_register_unary("log_softmax", _log_softmax, _log_softmax_grad, "Out", attrs={"axis": -1}, along_axis=True)

ACTIVATIONS = (
    "relu",
    "sigmoid",
    "tanh",
    "leaky_relu",
    "softmax",
    "log_softmax",
    "exp",
    "log",
    "sqrt",
    "square",
    "abs",
    "pow",
    "cos",
    "sin",
    "floor",
    "ceil",
)
