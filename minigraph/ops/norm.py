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

import functools
import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from minigraph.errors import ExecutionError, GraphBuildError, OpTypeError
from minigraph.ops import norm_loops
from minigraph.ops.activation import relu_grad
from minigraph.ops.backend import compiled
from minigraph.ops.buffers import empty, scrap
from minigraph.ops.channels import as3, cdot, col, csum
from minigraph.ops.common import NO_SECOND_ORDER, grad_slots, like_inputs
from minigraph.ops.layout import LAYOUTS, channel_axis
from minigraph.registry import GradContext, OpDef, register, wired
from minigraph.types import shape_text

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


def running_affine(
    attrs: dict[str, Any], scale: np.ndarray, bias: np.ndarray, mean: np.ndarray, variance: np.ndarray, dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    """What batch_norm computes when it normalises with the running statistics, as the
    per-channel map `y = x * gain + shift` (float64; epsilon rounded to `dtype`, the input's
    dtype, as the kernel adds it). Passes that fold batch_norm away use this."""
    eps = float(np.asarray(attrs["epsilon"], dtype=dtype))
    gain = scale.astype(np.float64) / np.sqrt(variance.astype(np.float64) + eps)
    return gain, bias.astype(np.float64) - mean.astype(np.float64) * gain


def check_layout(data_layout: str) -> None:
    if data_layout not in LAYOUTS:
        raise GraphBuildError(f"unsupported data layout: {data_layout} (expected 'NCHW' or 'NHWC')")


def check_rank(shape: tuple[int, ...]) -> None:
    if not 2 <= len(shape) <= 5:
        raise GraphBuildError(
            f"expected 2D or 3D or 4D or 5D input (got {len(shape)}D input, input shape is: {shape_text(shape)})"
        )


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


def infer_batch_norm(
    ins: dict[str, Any], attrs: dict[str, Any], op: str = "batch_norm", local_batch: bool = True
) -> dict[str, Any]:
    """Shape inference of batch_norm (and of sync_batch_norm: `op`, and `local_batch=False`
    because its statistics come from the batches of all processes, not this one's alone)."""
    x = ins["X"]
    if x.dtype not in BN_DTYPES:
        raise OpTypeError(
            f"op {op}: the data type of input X {x.name!r} must be float32 or float64, but received {x.dtype}"
        )
    check_rank(x.shape)
    check_layout(attrs["data_layout"])
    check_hyper(attrs["epsilon"], attrs["momentum"])
    axis = channel_axis(attrs["data_layout"], len(x.shape))
    channels = x.shape[axis]
    for slot in STAT_SLOTS:
        v = ins[slot]
        if v.dtype != x.dtype:
            raise OpTypeError(
                f"op {op}: input {slot} {v.name!r} is {v.dtype} but X {x.name!r} is {x.dtype}; "
                f"the parameters and statistics must have the input's dtype"
            )
        if len(v.shape) != 1 or (channels >= 0 and v.shape[0] >= 0 and v.shape[0] != channels):
            raise GraphBuildError(
                f"{slot} {v.name!r} has shape {shape_text(v.shape)} but input X {x.name!r} "
                f"{shape_text(x.shape)} has {channels} channels on axis {axis} under "
                f"data_layout={attrs['data_layout']!r}"
            )
    m = values_per_channel(x.shape, axis)
    if local_batch and uses_batch_stats(attrs) and 0 <= m < 2:
        raise GraphBuildError(_degenerate_message(x.shape, m))
    stat = ((channels if channels >= 0 else ins["Scale"].shape[0],), x.dtype)
    return {"Y": (x.shape, x.dtype), "MeanOut": stat, "VarianceOut": stat, "SavedMean": stat, "SavedVariance": stat}


# sync_batch_norm's hooks (minigraph/ops/sync_norm.py): per-channel (count, mean, biased
# variance) of this process -> the same over every process; and (count, sum(dy),
# sum(dy * xhat)) -> the sums over every process, which the input gradient needs.
Combine = Callable[[int, np.ndarray, np.ndarray], tuple[int, np.ndarray, np.ndarray]]


def _batch_moments(x3: np.ndarray, y3: np.ndarray, combine: Combine | None) -> tuple[int, np.ndarray, np.ndarray]:
    """Per-channel count, mean and biased variance of x3 (combined over processes when
    `combine` is given), leaving x3 centred by that mean in y3."""
    dt = x3.dtype
    m = x3.shape[0] * x3.shape[2]
    if m:
        mu = (csum(x3) / dt.type(m)).astype(dt, copy=False)
        np.subtract(x3, col(mu), out=y3)
        # Two-pass biased variance from the centred values: never E[x^2] - E[x]^2, which
        # cancels and can go negative.
        batch_var = (cdot(y3, y3) / dt.type(m)).astype(dt, copy=False)
    else:  # a process may hold no sample of the global batch
        mu = batch_var = np.zeros(x3.shape[1], dt)
    if combine is not None:
        local_mu = mu
        m, mu, batch_var = combine(m, mu, batch_var)
        if mu is not local_mu:
            np.subtract(x3, col(mu), out=y3)
    return m, mu, batch_var


def _loops_pay(x3: np.ndarray) -> bool:
    """Whether the numba backend's loops run for this [outer, C, inner] view: rows of 8+
    values (NCHW images) are walked row by row; rows of one value ([N, C], NHWC) by the
    row-major `*_rows` loops, 2-3x faster than the numpy path (W2's [256, 512]: forward 142
    -> 51 us, gradient 164 -> 72 us). Short rows in between would run scalar loops."""
    return compiled() and x3.size > 0 and (x3.shape[2] >= 8 or x3.shape[2] == 1)


def batch_norm_kernel(
    attrs: dict[str, Any],
    x: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    combine: Combine | None = None,
    relu: bool = False,
    xbias: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """batch_norm's kernel; `combine`: sync_batch_norm's (statistics of all processes); `relu`:
    fused_batch_norm_act's (relu in place on Y); `xbias`: fused_bias_batch_norm_act's ([C])."""
    dt = x.dtype
    eps = dt.type(attrs["epsilon"])
    axis = channel_axis(attrs["data_layout"], x.ndim)
    channels = x.shape[axis]
    if any(p.shape != (channels,) for p in (scale, bias, mean, var)):
        # only reachable when X's channel dimension was unknown at build time
        raise ExecutionError(
            f"input X of shape {shape_text(x.shape)} has {channels} channels under "
            f"data_layout={attrs['data_layout']!r}, but Scale/Bias/Mean/Variance have shapes "
            f"{', '.join(shape_text(p.shape) for p in (scale, bias, mean, var))}"
        )
    x3 = as3(x, axis)
    # rows of one value take the [N, C] loops, which have no cross-process combine
    fast = _loops_pay(x3) and (combine is None or x3.shape[2] > 1)
    rows = fast and x3.shape[2] == 1 and uses_batch_stats(attrs) and x3.shape[0] >= 2
    if xbias is not None and not rows:  # the [N, C] loops add it as they read; the rest read the sum
        return batch_norm_kernel(attrs, np.add(x, xbias), scale, bias, mean, var, combine, relu)
    y = empty(x.shape, dt)
    y3 = y.reshape(x3.shape)
    if rows:
        stats = norm_loops.forward_rows(
            x3, (scale, bias, mean, var), eps, attrs["momentum"], updates_running_stats(attrs), relu, y3, xbias
        )
        return (y, *stats)
    if uses_batch_stats(attrs):
        if fast:
            m, mu, batch_var = norm_loops.moments(x3)
            if combine is not None:
                m, mu, batch_var = combine(m, mu, batch_var)
        else:
            m, mu, batch_var = _batch_moments(x3, y3, combine)
        if m < 2:
            raise ExecutionError(_degenerate_message(x.shape, m))
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
        mean_out, var_out = mean, var  # normalising with them leaves them unchanged
        # An affine map with constant coefficients: y = x * gain + shift, two passes over
        # memory instead of three. Computed in float64 on C values, so the only rounding
        # beyond the centred form's is shift's, relative to |mean * gain|.
        gain64, shift64 = running_affine(attrs, scale, bias, mean, var, dt)
        np.multiply(x3, col(gain64.astype(dt)), out=y3)
        np.add(y3, col(shift64.astype(dt)), out=y3)
        return _relu(y, relu), mean_out, var_out, mean.copy(), inv_std
    if fast:
        norm_loops.normalise(x3, mu, inv_std * scale, bias, relu, y3)
        return y, mean_out, var_out, saved_mean, inv_std
    # NOTE: Paddle evaluates x*(inv_std*scale) + (bias - mu*inv_std*scale); scaling the
    # centred values we already hold is as cheap and avoids cancellation when |mu| >> std.
    # The two agree to an ulp or so.
    np.multiply(y3, col(inv_std * scale), out=y3)
    np.add(y3, col(bias), out=y3)
    return _relu(y, relu), mean_out, var_out, saved_mean, inv_std


def _relu(y: np.ndarray, relu: bool) -> np.ndarray:
    return np.maximum(y, y.dtype.type(0), out=y) if relu else y


# --- gradient -----------------------------------------------------------------------------


def grad_maker(grad_type: str, reads_y: bool = False, also: tuple[str, ...] = ()) -> Callable[[GradContext], None]:
    """The grad maker of batch_norm (grad_type "batch_norm_grad"), of sync_batch_norm and,
    with `reads_y` (the gradient also reads the forward's Y), of fused_batch_norm_act;
    `also` names more differentiable inputs (fused_bias_batch_norm_act's XBias)."""
    return functools.partial(_emit_grad, grad_type, reads_y, also)


def _emit_grad(grad_type: str, reads_y: bool, also: tuple[str, ...], g: GradContext) -> None:
    wrt = ("X", *also, "Scale", "Bias")
    g.emit(
        grad_type,
        attrs=g.attrs,
        **{name: g.input(name) for name in wrt},
        **({"Y": g.output("Y")} if reads_y else {}),
        # The statistics the forward normalised with, in every mode: the gradient never
        # depends on the post-update MeanOut/VarianceOut.
        SavedMean=g.output("SavedMean"),
        SavedVariance=g.output("SavedVariance"),
        **{"Y@GRAD": g.out_grad("Y")},
        **{f"{name}@GRAD": g.in_grad(name) for name in wrt},
    )


def batch_norm_grad_kernel(
    attrs: dict[str, Any],
    x: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    saved_mean: np.ndarray,
    saved_inv_std: np.ndarray,
    dy: np.ndarray,
    combine: Combine | None = None,
    y: np.ndarray | None = None,
    xbias: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """batch_norm_grad's kernel. With `combine` (sync_batch_norm_grad) the input gradient
    uses the sums over every process; Scale@GRAD and Bias@GRAD stay this process's share
    (data parallelism averages parameter gradients afterwards). With `y`, the forward's
    output after a relu (fused_batch_norm_act_grad): dy is first masked by y > 0."""
    dt = x.dtype
    axis = channel_axis(attrs["data_layout"], x.ndim)
    x3, dy3 = as3(x, axis), as3(dy, axis)
    batch = uses_batch_stats(attrs)
    want_dx = wired(attrs, 0)
    if batch and _loops_pay(x3) and (combine is None or x3.shape[2] > 1):
        y3 = None if y is None else as3(y, axis)
        stats = (scale, saved_mean, saved_inv_std)
        return norm_loops.batch_norm_grad(x3, dy3, y3, stats, want_dx, x.shape, combine, xbias)
    if xbias is not None:  # (as in batch_norm_kernel) off the [N, C] loops, the formulas read the sum
        return batch_norm_grad_kernel(attrs, np.add(x, xbias), scale, bias, saved_mean, saved_inv_std, dy, combine, y)
    if y is not None:
        masked = relu_grad(attrs, y, dy)
        grads = batch_norm_grad_kernel(attrs, x, scale, bias, saved_mean, saved_inv_std, masked, combine)
        scrap(masked)
        return grads
    d_bias = csum(dy3).astype(dt, copy=False)
    gain = scale * saved_inv_std
    # the centred input, in dX's buffer when dX is wanted (the batch formula starts from it)
    centred = empty(x.shape, dt) if (want_dx and batch) else empty(x3.shape, dt)
    c3 = centred.reshape(x3.shape)
    np.subtract(x3, col(saved_mean), out=c3)
    d_scale = (cdot(dy3, c3) * saved_inv_std).astype(dt, copy=False)
    dx = None
    if want_dx and batch:
        # mu and var depend on x: dX = gain/m * (m*dy - sum(dy) - xhat*sum(dy*xhat)),
        # with xhat = centred * inv_std; computed in place in the centred buffer.
        count, sum_dy, sum_dy_xhat = x.size // x3.shape[1], d_bias, d_scale
        if combine is not None:
            count, sum_dy, sum_dy_xhat = combine(count, d_bias, d_scale)
        m = dt.type(count)
        np.multiply(c3, col(-(saved_inv_std * sum_dy_xhat) / m), out=c3)
        np.add(c3, dy3, out=c3)
        np.subtract(c3, col(sum_dy / m), out=c3)
        np.multiply(c3, col(gain), out=c3)
        dx = centred
    else:
        del c3
        scrap(centred)
        if want_dx:  # statistics are constants: an affine map
            dx = empty(x.shape, dt)
            np.multiply(dy3, col(gain), out=dx.reshape(x3.shape))
    return dx, d_scale, d_bias


register(
    OpDef(
        "batch_norm",
        ("X", "Scale", "Bias", "Mean", "Variance"),
        ("Y", "MeanOut", "VarianceOut", "SavedMean", "SavedVariance"),
        batch_norm_kernel,
        infer_batch_norm,
        attrs=dict(BN_ATTRS),
        grad=grad_maker("batch_norm_grad"),
        no_grad_inputs=("Mean", "Variance"),
        inplace={"MeanOut": "Mean", "VarianceOut": "Variance"},
        # what the gradient reads; a test program's dead-output pass unwires them
        optional_outputs=("SavedMean", "SavedVariance"),
    )
)


def infer_batch_norm_grad(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    return like_inputs(**grad_slots("X", "Scale", "Bias"))(ins, attrs)


register(
    OpDef(
        "batch_norm_grad",
        ("X", "Scale", "Bias", "SavedMean", "SavedVariance", "Y@GRAD"),
        ("X@GRAD", "Scale@GRAD", "Bias@GRAD"),
        batch_norm_grad_kernel,
        infer_batch_norm_grad,
        attrs=dict(BN_ATTRS),
        no_grad=NO_SECOND_ORDER,
        optional_outputs=("X@GRAD", "Scale@GRAD", "Bias@GRAD"),
    )
)
