"""Reduction builders."""

from __future__ import annotations

from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper

__all__ = ["mean"]


def mean(x: Variable, name: str | None = None) -> Variable:
    """The mean of all elements, as a 0-D variable (shape ())."""
    helper = LayerHelper("mean", name)
    out = helper.create_tmp(x.dtype)
    helper.append_op("mean", {"X": x}, {"Out": out})
    return out
