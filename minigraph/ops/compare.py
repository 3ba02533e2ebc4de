"""Comparisons (less_than, less_equal, greater_than, greater_equal, equal, not_equal:
bool outputs, numpy broadcasting with Paddle's `axis`) and increment (a counter's +step).
None has a gradient: their outputs are booleans or counters."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops.common import align, align_shape, broadcast_shape, same_as
from minigraph.registry import OpDef, register


def _compare_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, y = ins["X"], ins["Y"]
    if x.dtype != y.dtype:
        raise GraphBuildError(f"X is {x.dtype} but Y is {y.dtype}; cast one of them first")
    return {"Out": (broadcast_shape(x.shape, align_shape(y.shape, len(x.shape), attrs["axis"])), "bool")}


def _register_compare(op: str, fn: Any) -> None:
    def kernel(a: dict[str, Any], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray]:
        return (fn(x, align(y, x.ndim, a["axis"])),)

    attrs = {"axis": -1, "force_cpu": False}
    register(OpDef(op, ("X", "Y"), ("Out",), kernel, _compare_infer, attrs=attrs, no_grad="boolean output"))


for _op, _fn in (
    ("less_than", np.less),
    ("less_equal", np.less_equal),
    ("greater_than", np.greater),
    ("greater_equal", np.greater_equal),
    ("equal", np.equal),
    ("not_equal", np.not_equal),
):
    _register_compare(_op, _fn)

register(
    OpDef(
        "increment",
        ("X",),
        ("Out",),
        lambda a, x: ((x + np.asarray(a["step"]).astype(x.dtype)).astype(x.dtype),),
        same_as("X"),
        attrs={"step": 1.0},
        no_grad="a counter: increments are not differentiated",
        inplace={"Out": "X"},
    )
)
