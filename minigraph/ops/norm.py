"""batch_norm and batch_norm_grad.

One rule decides the mode and is shared by the forward kernel, the gradient kernel and the
printers: batch statistics unless `(is_test and not trainable_statistics) or
use_global_stats` (`uses_batch_stats`). The gradient always differentiates what the forward
computed: the batch formula after batch statistics, the affine formula (statistics held
constant) after running statistics.

Differences from Paddle 3.3.1, on purpose:
- In running-statistics mode SavedMean/SavedVariance are written (the running mean and
  1/sqrt(running var + eps)), and the gradient reads them, so it never sees the
  post-update running statistics.
- With is_test=True and trainable_statistics=True the forward uses batch statistics and so
  does the gradient (Paddle mixes in the running ones).
- NOTE: the running statistics are updated only when `is_test` is False. A test program
  (including one made by `clone(for_test=True)`) therefore never changes a persistable, even
  for a trainable_statistics batch_norm, which normalises with its batch statistics but
  leaves MeanOut/VarianceOut equal to Mean/Variance. Paddle updates them there.
- A batch with one value per channel in batch-statistics mode is an error (Paddle silently
  returns Y = X), raised at build time when the shape is known, else at run time.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError, OpTypeError
from minigraph.ir.variable import shape_text
from minigraph.ops.common import NO_SECOND_ORDER, grad_slots, like_inputs
from minigraph.ops.registry import OpDef, register

LAYOUTS = ("NCHW", "NHWC")
BN_DTYPES = ("float32", "float64")
STAT_SLOTS = ("Scale", "Bias", "Mean", "Variance")

BN_ATTRS: dict[str, Any] = {
    "epsilon": 1e-5,
    "momentum": 0.9,
    "is_test": False,
    "data_layout": "NCHW",
    "use_global_stats": False,
    "trainable_statistics": False,
}


# --- the mode rule and shape helpers ----------------------------------------------------


def uses_batch_stats(attrs: dict[str, Any]) -> bool:
    """True when batch_norm normalises with the statistics of the current batch."""
    running = (attrs["is_test"] and not attrs["trainable_statistics"]) or attrs["use_global_stats"]
    return not running


def updates_running_stats(attrs: dict[str, Any]) -> bool:
    """True when batch_norm blends the batch statistics into MeanOut/VarianceOut."""
    return uses_batch_stats(attrs) and not attrs["is_test"]


def mode_text(attrs: dict[str, Any]) -> str:
    """A one-line description of what a batch_norm op with these attrs does."""
    if not uses_batch_stats(attrs):
        return "running statistics (statistics unchanged)"
    if updates_running_stats(attrs):
        return "batch statistics (updates running stats)"
    return "batch statistics (trainable_statistics; running stats unchanged)"


def check_layout(data_layout: str) -> None:
    if data_layout not in LAYOUTS:
        raise GraphBuildError(f"unsupported data layout: {data_layout} (expected 'NCHW' or 'NHWC')")


def check_rank(shape: tuple[int, ...]) -> None:
    if not 2 <= len(shape) <= 5:
        raise GraphBuildError(
            f"expected 2D or 3D or 4D or 5D input (got {len(shape)}D input, input shape is: {shape_text(shape)})"
        )


def channel_axis(ndim: int, data_layout: str) -> int:
    """Axis 1 under NCHW, the last axis under NHWC; a rank-2 input is always [N, C]."""
    return 1 if data_layout == "NCHW" else ndim - 1


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def check_hyper(epsilon: float, momentum: float) -> None:
    if not (_is_number(epsilon) and math.isfinite(epsilon) and epsilon > 0):
        raise GraphBuildError(f"epsilon must be a positive number, got {epsilon!r}")
    if not (_is_number(momentum) and 0.0 <= momentum <= 1.0):
        raise GraphBuildError(f"momentum must be a number in [0, 1], got {momentum!r}")


def values_per_channel(shape: tuple[int, ...], axis: int) -> int:
    """N * spatial, or -1 if some dimension other than the channel's is unknown."""
    dims = [d for i, d in enumerate(shape) if i != axis]
    return -1 if any(d < 0 for d in dims) else math.prod(dims)


def _degenerate_message(shape: tuple[int, ...], m: int) -> str:
    what = "an empty batch" if m == 0 else "one value per channel (N * spatial = 1)"
    return (
        f"input X of shape {shape_text(shape)} has {what} in batch-statistics mode, so the batch "
        f"variance is undefined; feed at least 2 values per channel, or normalise with the running "
        f"statistics (use_global_stats=True, or is_test=True)"
    )


# --- forward ------------------------------------------------------------------------------


def _infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["X"]
    if x.dtype not in BN_DTYPES:
        raise OpTypeError(
            f"op batch_norm: the data type of input X {x.name!r} must be float32 or float64, but received {x.dtype}"
        )
    check_rank(x.shape)
    check_layout(attrs["data_layout"])
    check_hyper(attrs["epsilon"], attrs["momentum"])
    axis = channel_axis(len(x.shape), attrs["data_layout"])
    channels = x.shape[axis]
    for slot in STAT_SLOTS:
        v = ins[slot]
        if v.dtype != x.dtype:
            raise OpTypeError(
                f"op batch_norm: input {slot} {v.name!r} is {v.dtype} but X {x.name!r} is {x.dtype}; "
                f"the parameters and statistics must have the input's dtype"
            )
        if len(v.shape) != 1 or (channels >= 0 and v.shape[0] >= 0 and v.shape[0] != channels):
            raise GraphBuildError(
                f"{slot} {v.name!r} has shape {shape_text(v.shape)} but input X {x.name!r} "
                f"{shape_text(x.shape)} has {channels} channels on axis {axis} under "
                f"data_layout={attrs['data_layout']!r}"
            )
    m = values_per_channel(x.shape, axis)
    if uses_batch_stats(attrs) and 0 <= m < 2:
        raise GraphBuildError(_degenerate_message(x.shape, m))
    stat = ((channels if channels >= 0 else ins["Scale"].shape[0],), x.dtype)
    return {"Y": (x.shape, x.dtype), "MeanOut": stat, "VarianceOut": stat, "SavedMean": stat, "SavedVariance": stat}


def _layout(x: np.ndarray, attrs: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(axes to reduce over, shape that broadcasts a per-channel vector against x)."""
    axis = channel_axis(x.ndim, attrs["data_layout"])
    bshape = [1] * x.ndim
    bshape[axis] = x.shape[axis]
    return tuple(i for i in range(x.ndim) if i != axis), tuple(bshape)


def _kernel(
    attrs: dict[str, Any], x: np.ndarray, scale: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, ...]:
    dt = x.dtype
    eps = dt.type(attrs["epsilon"])
    axes, bshape = _layout(x, attrs)
    channels = x.shape[channel_axis(x.ndim, attrs["data_layout"])]
    if any(p.shape != (channels,) for p in (scale, bias, mean, var)):
        # only reachable when X's channel dimension was unknown at build time
        raise ValueError(
            f"input X of shape {shape_text(x.shape)} has {channels} channels under "
            f"data_layout={attrs['data_layout']!r}, but Scale/Bias/Mean/Variance have shapes "
            f"{', '.join(shape_text(p.shape) for p in (scale, bias, mean, var))}"
        )
    if uses_batch_stats(attrs):
        m = math.prod(x.shape[i] for i in axes)
        if m < 2:
            raise ValueError(_degenerate_message(x.shape, m))
        mu = x.mean(axis=axes, dtype=dt)
        centred = x - mu.reshape(bshape)
        # Two-pass biased variance: never E[x^2] - E[x]^2, which cancels and can go negative.
        batch_var = np.mean(np.square(centred), axis=axes, dtype=dt)
        inv_std = (1.0 / np.sqrt(batch_var + eps)).astype(dt, copy=False)
        if updates_running_stats(attrs):
            mom = attrs["momentum"]
            mean_out = (mean * dt.type(mom) + mu * dt.type(1.0 - mom)).astype(dt, copy=False)
            var_out = (var * dt.type(mom) + batch_var * dt.type(1.0 - mom)).astype(dt, copy=False)
        else:
            mean_out, var_out = mean, var
        saved_mean = mu
    else:
        inv_std = (1.0 / np.sqrt(var + eps)).astype(dt, copy=False)
        centred = x - mean.reshape(bshape)
        mean_out, var_out = mean, var  # normalising with them leaves them unchanged
        saved_mean = mean.copy()
    # NOTE: Paddle evaluates x*(inv_std*scale) + (bias - mu*inv_std*scale); scaling the
    # centred values we already hold is as cheap and avoids cancellation when |mu| >> std.
    # The two agree to an ulp or so.
    y = centred
    y *= (inv_std * scale).reshape(bshape)
    y += bias.reshape(bshape)
    return y, mean_out, var_out, saved_mean, inv_std


# --- gradient -----------------------------------------------------------------------------


def _grad_maker(g: Any) -> None:
    g.emit(
        "batch_norm_grad",
        attrs=g.attrs,
        X=g.input("X"),
        Scale=g.input("Scale"),
        Bias=g.input("Bias"),
        # The statistics the forward normalised with, in every mode: the gradient never
        # depends on the post-update MeanOut/VarianceOut.
        SavedMean=g.output("SavedMean"),
        SavedVariance=g.output("SavedVariance"),
        **{
            "Y@GRAD": g.out_grad("Y"),
            "X@GRAD": g.in_grad("X"),
            "Scale@GRAD": g.in_grad("Scale"),
            "Bias@GRAD": g.in_grad("Bias"),
        },
    )


def _grad_kernel(
    attrs: dict[str, Any],
    x: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    saved_mean: np.ndarray,
    saved_inv_std: np.ndarray,
    dy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dt = x.dtype
    axes, bshape = _layout(x, attrs)
    xhat = x - saved_mean.reshape(bshape)
    xhat *= saved_inv_std.reshape(bshape)
    d_bias = dy.sum(axis=axes, dtype=dt)
    d_scale = (dy * xhat).sum(axis=axes, dtype=dt)
    gain = (scale * saved_inv_std).reshape(bshape)
    if uses_batch_stats(attrs):
        # mu and var depend on x: dX = scale*inv_std/m * (m*dy - sum(dy) - xhat*sum(dy*xhat)).
        m = dt.type(math.prod(x.shape[i] for i in axes))
        dx = xhat
        dx *= -(d_scale / m).reshape(bshape)
        dx -= (d_bias / m).reshape(bshape)
        dx += dy
        dx *= gain
    else:
        dx = dy * gain  # statistics are constants: an affine map
    return dx.astype(dt, copy=False), d_scale, d_bias


register(
    OpDef(
        "batch_norm",
        ("X", "Scale", "Bias", "Mean", "Variance"),
        ("Y", "MeanOut", "VarianceOut", "SavedMean", "SavedVariance"),
        _kernel,
        _infer,
        attrs=dict(BN_ATTRS),
        grad=_grad_maker,
        no_grad_inputs=("Mean", "Variance"),
        inplace={"MeanOut": "Mean", "VarianceOut": "Variance"},
    )
)


def _grad_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    return like_inputs(**grad_slots("X", "Scale", "Bias"))(ins, attrs)


register(
    OpDef(
        "batch_norm_grad",
        ("X", "Scale", "Bias", "SavedMean", "SavedVariance", "Y@GRAD"),
        ("X@GRAD", "Scale@GRAD", "Bias@GRAD"),
        _grad_kernel,
        _grad_infer,
        attrs=dict(BN_ATTRS),
        no_grad=NO_SECOND_ORDER,
        optional_outputs=("X@GRAD", "Scale@GRAD", "Bias@GRAD"),
    )
)
