"""Operator overloading on eager variables: the same ops as the static operators."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.dygraph.tracer import current_tracer
from minigraph.dygraph.variable import EagerVariable


def _run(op: str, inputs: dict[str, Any], attrs: dict[str, Any]) -> EagerVariable:
    tracer = current_tracer()
    if tracer is None:
        raise RuntimeError("eager variables can only be combined inside minigraph.dygraph.guard()")
    out = tracer.block.create_var()
    tracer.trace_op(op, inputs, {"Out": out}, attrs)
    return out


def binary(x: EagerVariable, other: Any, op: str, reverse: bool) -> EagerVariable:
    if isinstance(other, (int, float)) and not isinstance(other, bool) and op != "matmul":
        c = float(other)
        if op == "add":
            return _run("scale", {"X": x}, {"scale": 1.0, "bias": c})
        if op == "sub":
            return _run("scale", {"X": x}, {"scale": -1.0, "bias": c} if reverse else {"scale": 1.0, "bias": -c})
        if op == "mul":
            return _run("scale", {"X": x}, {"scale": c, "bias": 0.0})
        if op == "div" and not reverse:
            return _run("scale", {"X": x}, {"scale": 1.0 / c, "bias": 0.0})
        other = EagerVariable(f"{x.name}.const", np.full((1,), c, dtype=x.dtype))
    if isinstance(other, np.ndarray):
        other = EagerVariable(f"{x.name}.const", other.astype(x.dtype))
    if not isinstance(other, EagerVariable):
        return NotImplemented
    a, b = (other, x) if reverse else (x, other)
    if op == "matmul":
        return _run("matmul", {"X": a, "Y": b}, {})
    return _run(f"elementwise_{op}", {"X": a, "Y": b}, {"axis": -1})


def negate(x: EagerVariable) -> EagerVariable:
    return _run("scale", {"X": x}, {"scale": -1.0, "bias": 0.0})
