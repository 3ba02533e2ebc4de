"""sync_batch_norm and sync_batch_norm_grad: batch_norm over the global batch of a
data-parallel job (Paddle's sync_batch_norm: the same slots, attributes and modes).

With batch statistics, each process computes its per-channel count, mean and M2 (the sum of
squared deviations, from its two-pass variance) and gathers everybody's; every process then
combines them in rank order with Chan et al.'s parallel formula,

    n = sum n_r,   mean = sum n_r mean_r / n,   M2 = sum M2_r + sum n_r (mean_r - mean)^2,

in float64. That is exact algebra for the two-pass statistics of the concatenated batch
(never E[x^2] - E[x]^2), and since the gathered numbers and the order are the same
everywhere, every process gets bit-identical statistics and updates its running statistics
identically. The gradient needs sum(dy) and sum(dy * xhat) over the global batch: one
allreduce of both per op. Scale@GRAD and Bias@GRAD remain this process's share, like any
parameter gradient, to be averaged with the others by data parallelism.

In running-statistics mode (is_test, use_global_stats) nothing is communicated, and in a job
of one process the op computes exactly what batch_norm computes.
"""

from __future__ import annotations

import functools

import numpy as np

from minigraph.ops import comm
from minigraph.ops.common import NO_SECOND_ORDER
from minigraph.ops.norm import (
    BN_ATTRS,
    batch_norm_grad_kernel,
    batch_norm_kernel,
    grad_maker,
    infer_batch_norm,
    infer_batch_norm_grad,
)
from minigraph.registry import OpDef, register


def global_moments(m: int, mean: np.ndarray, var: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(count, mean, biased variance) per channel over every process (see the module docstring)."""
    world = comm.world()
    if world.size == 1:
        return m, mean, var
    channels = mean.shape[0]
    mine = np.empty((3, channels), np.float64)
    mine[0] = m
    mine[1] = mean
    mine[2] = var.astype(np.float64) * m  # M2 = n * biased variance
    every = np.empty((world.size, 3, channels), np.float64)
    comm.timed(world.allgather, mine, every)
    counts, means, m2s = every[:, 0], every[:, 1], every[:, 2]
    n = counts.sum(axis=0)
    total = int(n[0])
    if total == 0:
        return 0, mean, var
    g_mean = (counts * means).sum(axis=0) / n
    g_m2 = m2s.sum(axis=0) + (counts * (means - g_mean) ** 2).sum(axis=0)
    dt = mean.dtype
    return total, g_mean.astype(dt), (g_m2 / n).astype(dt)


def global_sums(m: int, sum_dy: np.ndarray, sum_dy_xhat: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(count, sum(dy), sum(dy * xhat)) per channel summed over every process."""
    world = comm.world()
    if world.size == 1:
        return m, sum_dy, sum_dy_xhat
    channels = sum_dy.shape[0]
    buf = np.empty(2 * channels + 1, np.float64)
    buf[0] = m
    buf[1 : channels + 1] = sum_dy
    buf[channels + 1 :] = sum_dy_xhat
    comm.timed_allreduce(buf, "sum")
    dt = sum_dy.dtype
    return int(buf[0]), buf[1 : channels + 1].astype(dt), buf[channels + 1 :].astype(dt)


register(
    OpDef(
        "sync_batch_norm",
        ("X", "Scale", "Bias", "Mean", "Variance"),
        ("Y", "MeanOut", "VarianceOut", "SavedMean", "SavedVariance"),
        functools.partial(batch_norm_kernel, combine=global_moments),
        functools.partial(infer_batch_norm, op="sync_batch_norm", local_batch=False),
        attrs=dict(BN_ATTRS),
        grad=grad_maker("sync_batch_norm_grad"),
        no_grad_inputs=("Mean", "Variance"),
        inplace={"MeanOut": "Mean", "VarianceOut": "Variance"},
    )
)
register(
    OpDef(
        "sync_batch_norm_grad",
        ("X", "Scale", "Bias", "SavedMean", "SavedVariance", "Y@GRAD"),
        ("X@GRAD", "Scale@GRAD", "Bias@GRAD"),
        functools.partial(batch_norm_grad_kernel, combine=global_sums),
        infer_batch_norm_grad,
        attrs=dict(BN_ATTRS),
        no_grad=NO_SECOND_ORDER,
        optional_outputs=("X@GRAD", "Scale@GRAD", "Bias@GRAD"),
    )
)
