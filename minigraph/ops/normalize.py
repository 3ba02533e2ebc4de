"""Per-sample normalisations: layer_norm, instance_norm, group_norm.

All three normalise independent groups of elements with their own mean and (biased)
variance, then apply a per-feature Scale and Bias:

* layer_norm: one group per sample over the dims from `begin_norm_axis` on; Scale/Bias
  cover those dims (flattened); Mean/Variance have one value per group.
* instance_norm: one group per (sample, channel) over the spatial dims; Scale/Bias are per
  channel; SavedMean / SavedVariance hold the mean and 1/sqrt(var + epsilon), as batch_norm's.
* group_norm: one group per (sample, group of channels); Scale/Bias per channel;
  Mean/Variance are [N, groups].

The variance is two-pass (mean of squared deviations), never E[x^2] - E[x]^2. The grad ops
rebuild the normalised input from X and the saved statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops.common import register_with_grad, require_float
from minigraph.types import shape_text

# --- how each op groups its input -------------------------------------------------------
# rows(shape, attrs): the number of groups (X reshaped to [rows, -1] has one group per row);
# affine(shape, attrs): the shape a Scale/Bias vector takes to broadcast against X.


def _ln_rows(shape: tuple[int, ...], attrs: dict[str, Any]) -> int:
    return int(np.prod(shape[: attrs["begin_norm_axis"]], dtype=np.int64))


def _ln_affine(shape: tuple[int, ...], attrs: dict[str, Any]) -> tuple[int, ...]:
    return tuple(shape[attrs["begin_norm_axis"] :])


def _channel_affine(shape: tuple[int, ...], attrs: dict[str, Any]) -> tuple[int, ...]:
    return (shape[1],) + (1,) * (len(shape) - 2)


def _in_rows(shape: tuple[int, ...], attrs: dict[str, Any]) -> int:
    return shape[0] * shape[1]


def _gn_rows(shape: tuple[int, ...], attrs: dict[str, Any]) -> int:
    return shape[0] * attrs["groups"]


# --- shared math ------------------------------------------------------------------------


def _stats(x: np.ndarray, rows: int, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group: mean, biased variance, and the normalised x (shaped like x)."""
    x2 = x.reshape(rows, -1)
    mean = x2.mean(axis=1, keepdims=True)
    centred = x2 - mean
    var = (centred * centred).mean(axis=1, keepdims=True)
    xhat = centred / np.sqrt(var + np.asarray(eps, x.dtype))
    return mean[:, 0], var[:, 0], xhat.reshape(x.shape)


def _affine(xhat: np.ndarray, scale: np.ndarray | None, bias: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    y = xhat if scale is None else xhat * scale.reshape(shape)
    return y if bias is None else y + bias.reshape(shape)


def _backward(
    x: np.ndarray,
    scale: np.ndarray | None,
    bias: np.ndarray | None,
    mean: np.ndarray,
    inv_std: np.ndarray,
    dy: np.ndarray,
    rows: int,
    affine: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """dX, dScale, dBias from the saved per-group mean and 1/std."""
    x2 = x.reshape(rows, -1)
    inv = inv_std.reshape(rows, 1)
    xhat2 = (x2 - mean.reshape(rows, 1)) * inv
    g2 = (dy if scale is None else dy * scale.reshape(affine)).reshape(rows, -1)
    # dx = inv_std * (g - mean(g) - xhat * mean(g * xhat)), the mean over each group.
    dx = inv * (g2 - g2.mean(axis=1, keepdims=True) - xhat2 * (g2 * xhat2).mean(axis=1, keepdims=True))
    # Scale/Bias gradients sum over every axis the parameter is broadcast along.
    lead = dy.ndim - len(affine)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(affine) if d == 1)
    dscale = None if scale is None else (dy * xhat2.reshape(x.shape)).sum(axis=axes).reshape(scale.shape)
    dbias = None if bias is None else dy.sum(axis=axes).reshape(bias.shape)
    return dx.reshape(x.shape).astype(x.dtype, copy=False), dscale, dbias


def _check_affine(ins: dict[str, Any], size: int) -> None:
    x = ins["X"]
    for slot in ("Scale", "Bias"):
        v = ins.get(slot)
        if v is None:
            continue
        if v.dtype != x.dtype:
            raise GraphBuildError(f"{slot} {v.name!r} is {v.dtype} but X {x.name!r} is {x.dtype}")
        if size >= 0 and int(np.prod(v.shape, dtype=np.int64)) != size:
            raise GraphBuildError(f"{slot} {v.name!r} {shape_text(v.shape)} must hold {size} values")


def _register(
    op: str,
    stat_slots: tuple[str, str],
    rows: Callable[..., int],
    affine: Callable[..., tuple[int, ...]],
    check: Callable[[Any, dict[str, Any]], tuple[tuple[int, ...], int]],
    saves_inv_std: bool,
    attrs: dict[str, Any],
) -> None:
    """One normalisation op and its grad op. `check(x, attrs)` validates X and returns
    (statistics shape, number of Scale/Bias values); SavedVariance holds 1/std when
    `saves_inv_std`, the variance otherwise."""
    mean_slot, var_slot = stat_slots

    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        x = ins["X"]
        require_float(x, f"{op}: X")
        stat_shape, size = check(x, attrs)
        _check_affine(ins, size)
        return {"Y": (x.shape, x.dtype), mean_slot: (stat_shape, x.dtype), var_slot: (stat_shape, x.dtype)}

    def kernel(a: dict[str, Any], x: np.ndarray, scale: Any, bias: Any) -> tuple[np.ndarray, ...]:
        stat_shape, _ = check(_Shape(x), a)
        mean, var, xhat = _stats(x, rows(x.shape, a), a["epsilon"])
        saved = 1.0 / np.sqrt(var + np.asarray(a["epsilon"], x.dtype)) if saves_inv_std else var
        y = _affine(xhat, scale, bias, affine(x.shape, a))
        return y, mean.reshape(stat_shape), saved.reshape(stat_shape)

    def grad_kernel(a: dict[str, Any], x: np.ndarray, scale: Any, bias: Any, mean: Any, saved: Any, dy: Any) -> Any:
        inv = saved if saves_inv_std else 1.0 / np.sqrt(saved + np.asarray(a["epsilon"], x.dtype))
        return _backward(x, scale, bias, mean, inv, dy, rows(x.shape, a), affine(x.shape, a))

    register_with_grad(
        op,
        ("X", "Scale?", "Bias?"),
        ("Y", mean_slot, var_slot),
        kernel,
        infer,
        grad_kernel,
        attrs=attrs,
        reads=("X", "Scale?", "Bias?"),
        reads_outputs=stat_slots,
        diff=("X", "Scale", "Bias"),
        out="Y",
    )


class _Shape:
    """A stand-in giving an array's shape to the build-time checks."""

    def __init__(self, x: np.ndarray) -> None:
        self.shape, self.name = x.shape, "X"


def _known(dims: Any) -> int:
    return -1 if any(d < 0 for d in dims) else int(np.prod(dims, dtype=np.int64))


def _ln_check(x: Any, attrs: dict[str, Any]) -> tuple[tuple[int, ...], int]:
    b = attrs["begin_norm_axis"]
    if not 1 <= b < max(len(x.shape), 2):
        raise GraphBuildError(f"begin_norm_axis {b} must be in [1, {len(x.shape) - 1}] for X {shape_text(x.shape)}")
    return (_known(x.shape[:b]),), _known(x.shape[b:])


def _channels(op: str, x: Any) -> int:
    if len(x.shape) < 2:
        raise GraphBuildError(f"{op}: X must be [N, C, ...], got {shape_text(x.shape)}")
    return x.shape[1]


def _in_check(x: Any, attrs: dict[str, Any]) -> tuple[tuple[int, ...], int]:
    c = _channels("instance_norm", x)
    return (x.shape[0] * c if x.shape[0] >= 0 and c >= 0 else -1,), c


def _gn_check(x: Any, attrs: dict[str, Any]) -> tuple[tuple[int, ...], int]:
    c, groups = _channels("group_norm", x), attrs["groups"]
    if attrs["data_layout"] != "NCHW":
        raise GraphBuildError(f"group_norm supports data_layout='NCHW' only, got {attrs['data_layout']!r}")
    if groups < 1 or (c >= 0 and c % groups):
        raise GraphBuildError(f"groups={groups} must be positive and divide the {c} channels")
    return (x.shape[0], groups), c


LN_ATTRS = {"epsilon": 1e-5, "begin_norm_axis": 1}
GN_ATTRS = {"epsilon": 1e-5, "groups": 1, "data_layout": "NCHW"}
_register("layer_norm", ("Mean", "Variance"), _ln_rows, _ln_affine, _ln_check, False, LN_ATTRS)
IN_SLOTS = ("SavedMean", "SavedVariance")
_register("instance_norm", IN_SLOTS, _in_rows, _channel_affine, _in_check, True, {"epsilon": 1e-5})
_register("group_norm", ("Mean", "Variance"), _gn_rows, _channel_affine, _gn_check, False, GN_ATTRS)
