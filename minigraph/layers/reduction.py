"""Reduction builders: mean (to 0-D), reduce_sum, reduce_mean, reduce_max."""

from __future__ import annotations

from typing import Any

from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper

__all__ = ["mean", "reduce_max", "reduce_mean", "reduce_sum"]


def mean(x: Variable, name: str | None = None) -> Variable:
    """The mean of all elements, as a 0-D variable (shape ())."""
    return LayerHelper("mean", name).emit("mean", {"X": x})


def _reduce(op: str, input: Variable, dim: Any, keep_dim: bool, name: str | None) -> Variable:
    dims = [] if dim is None else ([int(dim)] if isinstance(dim, int) else [int(d) for d in dim])
    # No dims reduces everything (so does a list naming every axis): 0-D unless keep_dim.
    reduce_all = not dims
    attrs = {"dim": dims, "keep_dim": bool(keep_dim), "reduce_all": reduce_all}
    return LayerHelper(op, name).emit(op, {"X": input}, attrs)


def reduce_sum(
    input: Variable, dim: int | list[int] | None = None, keep_dim: bool = False, name: str | None = None
) -> Variable:
    """Sum over `dim` (an int or a list; None = every axis, giving a 0-D result).

    Example: `mg.layers.reduce_sum(x, dim=1)` turns [N, C] into [N]."""
    return _reduce("reduce_sum", input, dim, keep_dim, name)


def reduce_mean(
    input: Variable, dim: int | list[int] | None = None, keep_dim: bool = False, name: str | None = None
) -> Variable:
    """Mean over `dim` (None = every axis, giving a 0-D result)."""
    return _reduce("reduce_mean", input, dim, keep_dim, name)


def reduce_max(
    input: Variable, dim: int | list[int] | None = None, keep_dim: bool = False, name: str | None = None
) -> Variable:
    """Max over `dim` (None = every axis). Ties share the gradient evenly."""
    return _reduce("reduce_max", input, dim, keep_dim, name)
