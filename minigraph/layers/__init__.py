"""Functional layer builders: in static mode each appends ops to the current program."""

from minigraph.layers.math import (
    elementwise_add,
    elementwise_div,
    elementwise_max,
    elementwise_min,
    elementwise_mul,
    elementwise_sub,
    matmul,
    mul,
    scale,
)
from minigraph.layers.nn import fc
from minigraph.layers.reduction import mean
from minigraph.layers.tensor import assign, cast, create_global_var, create_parameter, data, fill_constant, sums

__all__ = [
    "assign",
    "cast",
    "create_global_var",
    "create_parameter",
    "data",
    "elementwise_add",
    "elementwise_div",
    "elementwise_max",
    "elementwise_min",
    "elementwise_mul",
    "elementwise_sub",
    "fc",
    "fill_constant",
    "matmul",
    "mean",
    "mul",
    "scale",
    "sums",
]
