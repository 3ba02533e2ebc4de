"""Operator overloading on Variables: `x + 1.0` appends a scale op, `x * y` an
elementwise_mul, `x @ y` a matmul. Outputs are named `tmp_N`, as in Paddle."""

from __future__ import annotations

from typing import Any

from minigraph.ir.variable import Variable


def _tmp(x: Variable, dtype: str | None = None) -> Variable:
    return x.block.create_var(x.block.program.names.generate("tmp"), dtype=dtype or x.dtype)


def _scale(x: Variable, scale: float, bias: float) -> Variable:
    out = _tmp(x)
    x.block.append_op("scale", {"X": x}, {"Out": out}, {"scale": scale, "bias": bias})
    return out


def binary(x: Variable, other: Any, op: str, reverse: bool) -> Variable:
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
        other = _constant_like(x, c)
    if not isinstance(other, Variable):
        return NotImplemented
    a, b = (other, x) if reverse else (x, other)
    out = _tmp(a)
    if op == "matmul":
        a.block.append_op("matmul", {"X": a, "Y": b}, {"Out": out})
    else:
        a.block.append_op(f"elementwise_{op}", {"X": a, "Y": b}, {"Out": out}, {"axis": -1})
    return out


def _constant_like(x: Variable, value: float) -> Variable:
    out = _tmp(x)
    out.stop_gradient = True
    x.block.append_op("fill_constant", {}, {"Out": out}, {"shape": [1], "dtype": x.dtype, "value": value})
    return out


def negate(x: Variable) -> Variable:
    return _scale(x, -1.0, 0.0)
