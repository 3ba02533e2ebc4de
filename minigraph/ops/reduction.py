"""Reductions: mean (to a 0-D value), reduce_sum, reduce_mean, reduce_max."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.ops.common import NO_SECOND_ORDER, grad_slots, like_inputs
from minigraph.ops.registry import OpDef, register


def _mean_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    return {"Out": ((), ins["X"].dtype)}


def _mean_grad_kernel(a: dict[str, Any], x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    return (np.full(x.shape, d / max(x.size, 1), dtype=x.dtype),)


register(
    OpDef(
        "mean",
        ("X",),
        ("Out",),
        lambda a, x: (np.asarray(x.mean(), dtype=x.dtype),),
        _mean_infer,
        grad=lambda g: g.emit("mean_grad", X=g.input("X"), **{"Out@GRAD": g.out_grad("Out"), "X@GRAD": g.in_grad("X")}),
    )
)
register(
    OpDef(
        "mean_grad",
        ("X", "Out@GRAD"),
        ("X@GRAD",),
        _mean_grad_kernel,
        like_inputs(**grad_slots("X")),
        no_grad=NO_SECOND_ORDER,
    )
)
