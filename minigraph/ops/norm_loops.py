"""batch_norm's compiled kernels (the numba backend, minigraph/ops/backend.py): plain loops
over x viewed as [A, C, B] (NCHW: [N, C, H*W]), compiled by `backend.jit` at first use.

Statistics take one pass over memory: each row x[a, c, :] gets its mean and centred sum of
squares from two passes over the row while it is in cache, and the rows of a channel are
combined with Chan's formula, in float64. That is as accurate as the two-pass formula over
the whole channel (never E[x^2] - E[x]^2). The elementwise passes compute in the input's
dtype, with the same operations in the same order as the numpy kernel in norm.py, and an
optional relu (fused_batch_norm_act) on the way out or on the incoming gradient.

Rows of one value ([N, C] inputs and NHWC: x3 is [A, C, 1]) get `*_rows` loops instead
(forward_rows, grad_rows): a channel's values are a column there, so the loops walk the
matrix row by row and keep one float64 accumulator per channel. The inner loop runs along
the contiguous channels (SIMD over C), every pass reads memory in order, and each pass does
what several numpy passes do. (sync_batch_norm on such inputs keeps the numpy kernel: its
statistics are combined across processes between the passes.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minigraph.ops.backend import jit
from minigraph.ops.buffers import empty


def _moments_loops(x3: np.ndarray, mean: np.ndarray, var: np.ndarray) -> None:
    # Rows in memory order (sample-major), each channel's running mean and sum of squares in
    # mean/var until the end: reading x once from start to finish measured 20% faster than
    # walking each channel's rows across the batch, with the same per-channel arithmetic.
    a_n, c_n, b_n = x3.shape
    mean[:] = 0.0
    var[:] = 0.0
    n = 0.0
    for a in range(a_n):
        total = n + b_n
        for c in range(c_n):
            row_sum = 0.0
            for b in range(b_n):
                row_sum += x3[a, c, b]
            row_mean = row_sum / b_n
            row_sq = 0.0
            for b in range(b_n):
                d = x3[a, c, b] - row_mean
                row_sq += d * d
            delta = row_mean - mean[c]
            mean[c] += delta * (b_n / total)
            var[c] += row_sq + delta * delta * (n * b_n / total)
        n = total
    for c in range(c_n):
        var[c] = var[c] / n if n > 0 else 0.0


def _apply_loops(
    x3: np.ndarray, mu: np.ndarray, gain: np.ndarray, bias: np.ndarray, relu: bool, y3: np.ndarray
) -> None:
    a_n, c_n, b_n = x3.shape
    for a in range(a_n):
        for c in range(c_n):
            m, g, t = mu[c], gain[c], bias[c]
            for b in range(b_n):
                v = (x3[a, c, b] - m) * g + t
                if relu and v < 0:
                    v = v - v  # +0 in v's dtype
                y3[a, c, b] = v


def _grad_sums_loops(
    x3: np.ndarray, dy3: np.ndarray, y3: np.ndarray, relu: bool, mu: np.ndarray, sum_dy: np.ndarray, sum_dyc: np.ndarray
) -> None:
    # rows in memory order, as _moments_loops: each row's sums in float64, added per channel
    a_n, c_n, b_n = x3.shape
    sum_dy[:] = 0.0
    sum_dyc[:] = 0.0
    for a in range(a_n):
        for c in range(c_n):
            s1 = 0.0
            s2 = 0.0
            m = mu[c]
            for b in range(b_n):
                d = dy3[a, c, b]
                if relu and not y3[a, c, b] > 0:
                    d = d - d  # 0 (NaN for an infinite d, as numpy's d * False)
                s1 += d
                s2 += d * (x3[a, c, b] - m)
            sum_dy[c] += s1
            sum_dyc[c] += s2


def _grad_dx_loops(
    x3: np.ndarray,
    dy3: np.ndarray,
    y3: np.ndarray,
    relu: bool,
    mu: np.ndarray,
    coef: np.ndarray,
    shift: np.ndarray,
    gain: np.ndarray,
    dx3: np.ndarray,
) -> None:
    a_n, c_n, b_n = x3.shape
    for a in range(a_n):
        for c in range(c_n):
            m, k, s, g = mu[c], coef[c], shift[c], gain[c]
            for b in range(b_n):
                d = dy3[a, c, b]
                if relu and not y3[a, c, b] > 0:
                    d = d - d
                dx3[a, c, b] = ((x3[a, c, b] - m) * k + d - s) * g


def moments(x3: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Per-channel count, mean and biased variance of an [A, C, B] array (in its dtype)."""
    c = x3.shape[1]
    mean, var = np.empty(c), np.empty(c)
    jit(_moments_loops, reassociate=True)(x3, mean, var)
    return x3.shape[0] * x3.shape[2], mean.astype(x3.dtype), var.astype(x3.dtype)


def normalise(x3: np.ndarray, mu: np.ndarray, gain: np.ndarray, bias: np.ndarray, relu: bool, y3: np.ndarray) -> None:
    """y3 = (x3 - mu) * gain + bias per channel, then relu if asked (all in x3's dtype)."""
    dt = x3.dtype
    per_channel = (v.astype(dt) for v in (mu, gain, bias))
    jit(_apply_loops)(x3, *per_channel, relu, y3)


def grad_sums(x3: np.ndarray, dy3: np.ndarray, y3: np.ndarray | None, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel sum(dy) and sum(dy * (x - mu)), dy masked by y > 0 when y3 is given."""
    c = x3.shape[1]
    sum_dy, sum_dyc = np.empty(c), np.empty(c)
    relu, mu = y3 is not None, mu.astype(x3.dtype)
    jit(_grad_sums_loops, reassociate=True)(x3, dy3, dy3 if y3 is None else y3, relu, mu, sum_dy, sum_dyc)
    return sum_dy.astype(x3.dtype), sum_dyc.astype(x3.dtype)


def batch_norm_grad(
    x3: np.ndarray,
    dy3: np.ndarray,
    y3: np.ndarray | None,
    stats: tuple[np.ndarray, np.ndarray, np.ndarray],
    want_dx: bool,
    x_shape: tuple[int, ...],
    combine: Callable[..., tuple[int, np.ndarray, np.ndarray]] | None = None,
    xbias: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """batch_norm_grad in batch-statistics mode: (dX or None, dScale, dBias), the numpy
    kernel's formula dX = gain/m * (m*dy - sum(dy) - xhat*sum(dy*xhat)) in its order (with
    `combine`, sync_batch_norm's: the sums over every process). `stats`: Scale, SavedMean
    and SavedVariance (1/std); dy is masked by y > 0 when y3 is given. `xbias` (added to
    X per channel) only on the [N, C] path, which adds it as it reads."""
    if combine is None and x3.shape[2] == 1:
        return grad_rows(x3, dy3, y3, stats, want_dx, x_shape, xbias)
    scale, saved_mean, saved_inv_std = stats
    dt = x3.dtype
    d_bias, sum_dyc = grad_sums(x3, dy3, y3, saved_mean)
    d_scale = (sum_dyc * saved_inv_std).astype(dt, copy=False)
    if not want_dx:
        return None, d_scale, d_bias
    count, sum_dy, sum_dy_xhat = x3.shape[0] * x3.shape[2], d_bias, d_scale
    if combine is not None:
        count, sum_dy, sum_dy_xhat = combine(count, d_bias, d_scale)
    m = dt.type(count)
    dx = empty(x_shape, dt)
    # dx3 = ((x3 - mu) * coef + dy - shift) * gain per channel, all in x3's dtype
    coef, shift, gain = -(saved_inv_std * sum_dy_xhat) / m, sum_dy / m, scale * saved_inv_std
    per_channel = (v.astype(dt) for v in (saved_mean, coef, shift, gain))
    relu = y3 is not None
    jit(_grad_dx_loops)(x3, dy3, dy3 if y3 is None else y3, relu, *per_channel, dx.reshape(x3.shape))
    return dx, d_scale, d_bias


# --- [N, C] batch statistics end to end: one compiled call per kernel ---------------------
# The per-channel vector arithmetic (1/sqrt(var + eps), the running statistics, the
# gradient's coefficients) is done here too, in the input's dtype and the numpy kernel's
# order: on [N, C] a layer's numpy calls on C-vectors cost about as much as its passes.


def _forward_rows_loops(
    x2: np.ndarray,
    xb: np.ndarray,
    params: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    consts: np.ndarray,
    update: bool,
    relu: bool,
    y2: np.ndarray,
    out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Of x2 + xb (per channel, added in x2's dtype as each value is read: the fc bias of
    fused_bias_batch_norm_act, else -0.0, which changes no value); params: Scale, Bias,
    Mean, Variance; out: MeanOut, VarianceOut, SavedMean, inv_std; consts: eps, 1,
    momentum, 1 - momentum (all in x2's dtype)."""
    a_n, c_n = x2.shape
    scale, bias, mean, var = params
    mean_out, var_out, mu, inv_std = out
    eps, one, mom, rest = consts[0], consts[1], consts[2], consts[3]
    s = np.zeros(c_n)
    for a in range(a_n):
        for c in range(c_n):
            s[c] += x2[a, c] + xb[c]
    mean64 = s / a_n
    s[:] = 0.0
    for a in range(a_n):
        for c in range(c_n):
            d = (x2[a, c] + xb[c]) - mean64[c]
            s[c] += d * d
    gain = np.empty_like(inv_std)
    batch_var = np.empty_like(inv_std)
    for c in range(c_n):
        mu[c] = mean64[c]
        batch_var[c] = s[c] / a_n
        inv_std[c] = one / np.sqrt(batch_var[c] + eps)
        if update:
            mean_out[c] = mean[c] * mom + mu[c] * rest
            var_out[c] = var[c] * mom + batch_var[c] * rest
        gain[c] = inv_std[c] * scale[c]
    for a in range(a_n):
        for c in range(c_n):
            v = ((x2[a, c] + xb[c]) - mu[c]) * gain[c] + bias[c]
            if relu and v < 0:
                v = v - v
            y2[a, c] = v


def forward_rows(
    x3: np.ndarray,
    params: tuple[np.ndarray, ...],
    eps: float,
    momentum: float,
    update: bool,
    relu: bool,
    y3: np.ndarray,
    xbias: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """Training batch_norm of x3 [A, C, 1] (+ `xbias` per channel) into y3, as
    batch_norm_kernel computes it: (MeanOut, VarianceOut, SavedMean, SavedVariance).
    params: Scale, Bias, Mean, Variance."""
    dt = x3.dtype
    params = tuple(p.astype(dt, copy=False) for p in params)
    out = tuple(np.empty(x3.shape[1], dt) for _ in range(4))
    consts = np.array([eps, 1.0, momentum, 1.0 - momentum], dt)
    x2 = x3.reshape(x3.shape[:2])
    xb = _no_bias(x3) if xbias is None else xbias.astype(dt, copy=False)
    jit(_forward_rows_loops)(x2, xb, params, consts, update, relu, y3.reshape(x2.shape), out)
    mean_out, var_out = (out[0], out[1]) if update else (params[2], params[3])
    return mean_out, var_out, out[2], out[3]


def _grad_rows_loops(
    x2: np.ndarray,
    xb: np.ndarray,
    dy2: np.ndarray,
    y2: np.ndarray,
    relu: bool,
    stats: tuple[np.ndarray, np.ndarray, np.ndarray],
    m: np.ndarray,
    want_dx: bool,
    dx2: np.ndarray,
    d_scale: np.ndarray,
    d_bias: np.ndarray,
) -> None:
    """batch_norm_grad's [N, C] path, of x2 + xb as in _forward_rows_loops: stats are Scale,
    SavedMean, 1/std; m holds the count."""
    a_n, c_n = x2.shape
    scale, mu, inv = stats
    s1, s2 = np.zeros(c_n), np.zeros(c_n)
    for a in range(a_n):
        for c in range(c_n):
            d = dy2[a, c]
            if relu and not y2[a, c] > 0:
                d = d - d
            s1[c] += d
            s2[c] += d * ((x2[a, c] + xb[c]) - mu[c])
    coef, shift, gain = np.empty_like(inv), np.empty_like(inv), np.empty_like(inv)
    for c in range(c_n):
        d_bias[c] = s1[c]
        d_scale[c] = s2[c]
        d_scale[c] = d_scale[c] * inv[c]
        coef[c] = -(inv[c] * d_scale[c]) / m[0]
        shift[c] = d_bias[c] / m[0]
        gain[c] = scale[c] * inv[c]
    if want_dx:
        for a in range(a_n):
            for c in range(c_n):
                d = dy2[a, c]
                if relu and not y2[a, c] > 0:
                    d = d - d
                dx2[a, c] = (((x2[a, c] + xb[c]) - mu[c]) * coef[c] + d - shift[c]) * gain[c]


def grad_rows(
    x3: np.ndarray,
    dy3: np.ndarray,
    y3: np.ndarray | None,
    stats: tuple[np.ndarray, ...],
    want_dx: bool,
    x_shape: Any,
    xbias: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """batch_norm_grad on [A, C, 1] (+ `xbias` per channel) in one compiled call (see
    batch_norm_grad)."""
    dt = x3.dtype
    x2 = x3.reshape(x3.shape[:2])
    dy2 = dy3.reshape(x2.shape)
    y2 = dy2 if y3 is None else y3.reshape(x2.shape)
    dx = empty(x_shape, dt) if want_dx else None
    d_scale, d_bias = np.empty(x2.shape[1], dt), np.empty(x2.shape[1], dt)
    stats = tuple(v.astype(dt, copy=False) for v in stats)
    m = np.array([x2.shape[0]], dt)
    out = dx.reshape(x2.shape) if dx is not None else dy2  # without dX, dy2 is a placeholder never written
    xb = _no_bias(x3) if xbias is None else xbias.astype(dt, copy=False)
    jit(_grad_rows_loops)(x2, xb, dy2, y2, y3 is not None, stats, m, want_dx, out, d_scale, d_bias)
    return dx, d_scale, d_bias


def _no_bias(x3: np.ndarray, cache: dict[tuple[int, Any], np.ndarray] = {}) -> np.ndarray:  # noqa: B006 - a memo
    """-0.0 per channel: adding it changes no value, not even a zero's sign."""
    key = (x3.shape[1], x3.dtype)
    got = cache.get(key)
    if got is None:
        got = cache[key] = np.full(x3.shape[1], -0.0, x3.dtype)
    return got
