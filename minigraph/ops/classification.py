"""Scores and targets beyond softmax: sigmoid_cross_entropy_with_logits (independent binary
labels), label_smooth (softened targets) and cos_sim (cosine similarity of rows)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops.common import register_with_grad, require_float, same_as
from minigraph.types import shape_text

# --- sigmoid_cross_entropy_with_logits ------------------------------------------------------

SCE_ATTRS: dict[str, Any] = {"normalize": False, "ignore_index": -100}


def _sce_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, label = ins["X"], ins["Label"]
    require_float(x, "sigmoid_cross_entropy_with_logits: X")
    if tuple(label.shape) != tuple(x.shape) or label.dtype != x.dtype:
        raise GraphBuildError(
            f"Label {label.name!r} {label.dtype}{shape_text(label.shape)} must have the shape and dtype of "
            f"X {x.name!r} {x.dtype}{shape_text(x.shape)}"
        )
    return same_as("X")(ins, attrs)


def _sce_weights(a: dict[str, Any], label: np.ndarray) -> np.ndarray:
    """1 where the label counts, 0 where it equals ignore_index; divided by the number that
    count when `normalize` (Paddle's mean over the kept elements)."""
    keep = (label != a["ignore_index"]).astype(label.dtype)
    if a["normalize"]:
        keep /= max(keep.sum(), 1)
    return keep


def _sce(a: dict[str, Any], x: np.ndarray, label: np.ndarray) -> tuple[np.ndarray]:
    # max(x, 0) - x*z + log(1 + exp(-|x|)): the stable form, no overflow for large |x|.
    loss = np.maximum(x, 0) - x * label + np.log1p(np.exp(-np.abs(x)))
    return (loss * _sce_weights(a, label),)


def _sce_grad(a: dict[str, Any], x: np.ndarray, label: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    sig = np.exp(-np.logaddexp(0, -x))
    return ((sig - label) * _sce_weights(a, label) * d,)


register_with_grad(
    "sigmoid_cross_entropy_with_logits",
    ("X", "Label"),
    ("Out",),
    _sce,
    _sce_infer,
    _sce_grad,
    attrs=SCE_ATTRS,
    reads=("X", "Label"),
    no_grad_inputs=("Label",),
)

# --- label_smooth -----------------------------------------------------------------------------


def _ls_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, prior = ins["X"], ins["PriorDist"]
    require_float(x, "label_smooth: X")
    if not 0.0 <= attrs["epsilon"] <= 1.0:
        raise GraphBuildError(f"epsilon must be in [0, 1], got {attrs['epsilon']}")
    if prior is not None and (not x.shape or tuple(prior.shape) not in ((x.shape[-1],), (1, x.shape[-1]))):
        raise GraphBuildError(
            f"PriorDist {prior.name!r} {shape_text(prior.shape)} must hold one value per class ({x.shape[-1:]})"
        )
    return same_as("X")(ins, attrs)


def _label_smooth(a: dict[str, Any], x: np.ndarray, prior: np.ndarray | None) -> tuple[np.ndarray]:
    eps = np.asarray(a["epsilon"], x.dtype)
    spread = prior.reshape(-1) if prior is not None else np.asarray(1.0 / x.shape[-1], x.dtype)
    return ((1 - eps) * x + eps * spread,)


register_with_grad(
    "label_smooth",
    ("X", "PriorDist?"),
    ("Out",),
    _label_smooth,
    _ls_infer,
    lambda a, d: ((1 - np.asarray(a["epsilon"], d.dtype)) * d,),
    attrs={"epsilon": 0.0},
    reads=(),
    grad_infer=lambda ins, attrs: {"X@GRAD": (ins["Out@GRAD"].shape, ins["Out@GRAD"].dtype)},
    no_grad_inputs=("PriorDist",),
)

# --- cos_sim: rows of X against rows of Y (or one row of Y against all) ----------------------


def _rows(v: np.ndarray) -> np.ndarray:
    return v.reshape(v.shape[0], -1)


def _cos_sim_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, y = ins["X"], ins["Y"]
    require_float(x, "cos_sim: X")
    if len(x.shape) < 2 or len(y.shape) != len(x.shape) or tuple(x.shape[1:]) != tuple(y.shape[1:]):
        raise GraphBuildError(
            f"X {x.name!r} {shape_text(x.shape)} and Y {y.name!r} {shape_text(y.shape)} must be [N, ...] rows of "
            f"the same size"
        )
    if y.shape[0] not in (1, x.shape[0]) and -1 not in (x.shape[0], y.shape[0]):
        raise GraphBuildError(f"Y must have 1 row or as many rows as X ({x.shape[0]}), got {y.shape[0]}")
    n = x.shape[0]
    return {"Out": ((n, 1), x.dtype), "XNorm": ((n, 1), x.dtype), "YNorm": ((y.shape[0], 1), x.dtype)}


def _cos_sim(a: dict[str, Any], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xr, yr = _rows(x), _rows(y)
    xn = np.sqrt((xr * xr).sum(axis=1, keepdims=True))
    yn = np.sqrt((yr * yr).sum(axis=1, keepdims=True))
    return (xr * yr).sum(axis=1, keepdims=True) / (xn * yn), xn, yn


def _cos_sim_grad(
    a: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    out: np.ndarray,
    xn: np.ndarray,
    yn: np.ndarray,
    d: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    # d cos / dx = y / (|x||y|) - cos * x / |x|^2, and symmetrically for y.
    xr, yr = _rows(x), _rows(y)
    dx = d * (yr / (xn * yn) - out * xr / (xn * xn))
    dy = d * (xr / (xn * yn) - out * yr / (yn * yn))
    if yr.shape[0] == 1 and xr.shape[0] != 1:
        dy = dy.sum(axis=0, keepdims=True)  # one Y row was compared with every X row
    return dx.reshape(x.shape), dy.reshape(y.shape)


register_with_grad(
    "cos_sim",
    ("X", "Y"),
    ("Out", "XNorm", "YNorm"),
    _cos_sim,
    _cos_sim_infer,
    _cos_sim_grad,
    reads=("X", "Y"),
    reads_outputs=("Out", "XNorm", "YNorm"),
    diff=("X", "Y"),
)
