"""Operator overloading on variables: `x + 1.0` emits a scale op, `x * y` an
elementwise_mul, `x @ y` a matmul, through the builder that owns `x` (so a static variable
appends to its program and an eager one computes at once). Outputs are named `tmp_N`, as in
Paddle. Numbers fold into `scale`; numpy arrays become constants (`assign_value`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.ir.builder import builder_for
from minigraph.types import normalize_dtype


def _emit(x: Any, op: str, inputs: dict[str, Any], attrs: dict[str, Any], dtype: str | None = None) -> Any:
    builder = builder_for(x)
    out = builder.create_var(builder.names.generate("tmp"), dtype=dtype or x.dtype)
    builder.append_op(op, inputs, {"Out": out}, attrs)
    return out


def _scale(x: Any, scale: float, bias: float) -> Any:
    return _emit(x, "scale", {"X": x}, {"scale": scale, "bias": bias})


def _constant(x: Any, value: Any) -> Any:
    """`value` (a number or an array) as a constant variable of x's dtype."""
    arr = np.asarray(value, dtype=x.dtype)
    if arr.ndim == 0:
        arr = arr.reshape(1)  # a [1] constant broadcasts against anything
    builder = builder_for(x)
    out = builder.create_var(builder.names.generate("tmp"), dtype=x.dtype, stop_gradient=True)
    attrs = {"shape": list(arr.shape), "dtype": x.dtype, "values": arr.ravel().tolist()}
    builder.append_op("assign_value", {}, {"Out": out}, attrs)
    return out


def binary(x: Any, other: Any, op: str, reverse: bool) -> Any:
    if isinstance(other, (int, float)) and not isinstance(other, bool) and op != "matmul":
        c = float(other)
        if op == "add":
            return _scale(x, 1.0, c)
        if op == "sub":
            return _scale(x, -1.0, c) if reverse else _scale(x, 1.0, -c)
        if op == "mul":
            return _scale(x, c, 0.0)
        if op == "div" and not reverse:
            return _scale(x, 1.0 / c, 0.0)
    if isinstance(other, (int, float, np.ndarray, np.generic)) and not isinstance(other, bool):
        other = _constant(x, other)
    if not isinstance(other, Operators):
        return NotImplemented
    a, b = (other, x) if reverse else (x, other)
    if op == "matmul":
        return _emit(a, "matmul", {"X": a, "Y": b}, {})
    return _emit(a, f"elementwise_{op}", {"X": a, "Y": b}, {"axis": -1})


def _method(op: str, reverse: bool) -> Any:
    def method(self: Any, other: Any) -> Any:
        return binary(self, other, op, reverse)

    method.__name__ = f"__{'r' if reverse else ''}{'truediv' if op == 'div' else op}__"
    return method


class Operators:
    """`+ - * / @`, their reflections, unary `-` and `astype`, for every variable."""

    __slots__ = ()
    __array_ufunc__ = None  # `ndarray + var` defers to var.__radd__ instead of looping

    __add__, __radd__ = _method("add", False), _method("add", True)
    __sub__, __rsub__ = _method("sub", False), _method("sub", True)
    __mul__, __rmul__ = _method("mul", False), _method("mul", True)
    __truediv__, __rtruediv__ = _method("div", False), _method("div", True)
    __matmul__, __rmatmul__ = _method("matmul", False), _method("matmul", True)

    def __neg__(self) -> Any:
        return _scale(self, -1.0, 0.0)

    def astype(self, dtype: Any) -> Any:
        """A cast to `dtype` (a `cast` op)."""
        out_dtype = normalize_dtype(dtype)
        x: Any = self
        return _emit(x, "cast", {"X": x}, {"in_dtype": x.dtype, "out_dtype": out_dtype}, out_dtype)
