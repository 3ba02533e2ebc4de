"""dropout and its gradient (which reuses the forward mask)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops.common import NO_SECOND_ORDER, like_inputs, require_float, simple_grad
from minigraph.registry import OpDef, register

DROPOUT_IMPLEMENTATIONS = ("downgrade_in_infer", "upscale_in_train")

# --- dropout ----------------------------------------------------------------------------


def _dropout_check(attrs: dict[str, Any]) -> None:
    if not 0.0 <= attrs["dropout_prob"] <= 1.0:
        raise GraphBuildError(f"dropout_prob must be in [0, 1], got {attrs['dropout_prob']}")
    if attrs["dropout_implementation"] not in DROPOUT_IMPLEMENTATIONS:
        raise GraphBuildError(
            f"dropout_implementation must be one of {DROPOUT_IMPLEMENTATIONS}, got {attrs['dropout_implementation']!r}"
        )


def _dropout_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["X"]
    require_float(x, "X")
    _dropout_check(attrs)
    return {"Out": (x.shape, x.dtype), "Mask": (x.shape, "uint8")}


def _train_scale(p: float, upscale: bool) -> float:
    """What a kept element is multiplied by in training mode."""
    if not upscale:
        return 1.0
    # NOTE: with p == 1 every element is dropped; scale 0 gives zeros instead of 0/0.
    return 0.0 if p >= 1.0 else 1.0 / (1.0 - p)


def _dropout(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, upscale = a["dropout_prob"], a["dropout_implementation"] == "upscale_in_train"
    if a["is_test"]:
        out = x.copy() if upscale else x * x.dtype.type(1.0 - p)
        return out, np.ones(x.shape, dtype=np.uint8)
    # A nonzero seed (or fix_seed) gives the same mask on every run, as in Paddle; the
    # executor turns seed 0 into a per-op seed when Program.random_seed is set.
    rng = np.random.default_rng(a["seed"] if (a["seed"] or a["fix_seed"]) else None)
    mask = (rng.random(x.shape, dtype=np.float32) >= np.float32(p)).astype(np.uint8)
    return x * mask * x.dtype.type(_train_scale(p, upscale)), mask


def _dropout_grad(a: dict[str, Any], mask: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray]:
    p, upscale = a["dropout_prob"], a["dropout_implementation"] == "upscale_in_train"
    if a["is_test"]:
        return (dout.copy() if upscale else dout * dout.dtype.type(1.0 - p),)
    return (dout * mask * dout.dtype.type(_train_scale(p, upscale)),)


_DROPOUT_ATTRS = {
    "dropout_prob": 0.5,
    "is_test": False,
    "fix_seed": False,
    "seed": 0,
    "dropout_implementation": "downgrade_in_infer",
}

register(
    OpDef(
        "dropout",
        ("X",),
        ("Out", "Mask"),
        _dropout,
        _dropout_infer,
        attrs=dict(_DROPOUT_ATTRS),
        grad=simple_grad("dropout_grad", fwd_inputs=(), fwd_outputs=("Mask",)),
    )
)
register(
    OpDef(
        "dropout_grad",
        ("Mask", "Out@GRAD"),
        ("X@GRAD",),
        _dropout_grad,
        like_inputs(**{"X@GRAD": "Out@GRAD"}),
        attrs=dict(_DROPOUT_ATTRS),
        no_grad=NO_SECOND_ORDER,
        optional_outputs=("X@GRAD",),
    )
)
