"""`fused_bias_batch_norm_act`: an fc layer's bias add, then training batch_norm and relu,
as one op (put in place by minigraph/passes/fuse_bias.py), and its gradient.

On [N, C] rows the numba backend adds the bias to each value as batch_norm's loops read it,
in the input's dtype, so the sum is rounded exactly as the separate elementwise_add rounds
it and the results are the unfused ones to the last bit; the sum itself is never written
(on the benchmarks' MLP that is a full pass over a [256, 512] array per layer, forward and
backward). Elsewhere batch_norm's kernels add the bias with numpy first (their `xbias`
argument, which picks the path), which is the unfused pair's arithmetic as it stands.

Slots: fused_batch_norm_act's with `XBias` (the bias, [C]) after X; the gradient adds
XBias@GRAD, the column sums of X@GRAD, computed as elementwise_add_grad computes them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops import fused
from minigraph.ops.common import unbroadcast
from minigraph.ops.norm import batch_norm_grad_kernel, batch_norm_kernel, grad_maker
from minigraph.registry import WIRED, get_op, register


def _infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, xbias = ins["X"], ins["XBias"]
    if len(x.shape) != 2 or tuple(xbias.shape) != (x.shape[1],) or xbias.dtype != x.dtype:
        raise GraphBuildError(
            f"fused_bias_batch_norm_act takes X [N, C] and XBias [C] of one dtype, got X {x.name!r} of "
            f"shape {list(x.shape)} ({x.dtype}) and XBias {xbias.name!r} of shape {list(xbias.shape)} ({xbias.dtype})"
        )
    return fused.bn_act_infer(ins, attrs)


def _kernel(attrs: dict[str, Any], x: np.ndarray, xbias: np.ndarray, *params: np.ndarray) -> tuple[np.ndarray, ...]:
    return batch_norm_kernel(attrs, x, *params, relu=True, xbias=xbias)


# X@GRAD is needed for XBias@GRAD even when X's own gradient is not wanted
_ALL_WIRED = (True, True, True)


def _grad_kernel(
    attrs: dict[str, Any],
    x: np.ndarray,
    xbias: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    y: np.ndarray,
    saved_mean: np.ndarray,
    saved_inv_std: np.ndarray,
    dy: np.ndarray,
) -> tuple[np.ndarray | None, ...]:
    bn_attrs = {**attrs, WIRED: _ALL_WIRED}
    dx, d_scale, d_bias = batch_norm_grad_kernel(
        bn_attrs, x, scale, bias, saved_mean, saved_inv_std, dy, y=y, xbias=xbias
    )
    assert dx is not None
    return dx, unbroadcast(dx, xbias.shape), d_scale, d_bias


_bn_act, _bn_act_grad = get_op("fused_batch_norm_act"), get_op("fused_batch_norm_act_grad")
register(
    replace(
        _bn_act,
        type="fused_bias_batch_norm_act",
        inputs=("X", "XBias", *_bn_act.inputs[1:]),
        kernel=_kernel,
        infer=_infer,
        grad=grad_maker("fused_bias_batch_norm_act_grad", reads_y=True, also=("XBias",)),
    )
)
register(
    replace(
        _bn_act_grad,
        type="fused_bias_batch_norm_act_grad",
        inputs=("X", "XBias", *_bn_act_grad.inputs[1:]),
        outputs=("X@GRAD", "XBias@GRAD", *_bn_act_grad.outputs[1:]),
        kernel=_grad_kernel,
        infer=lambda ins, attrs: {
            f"{n}@GRAD": (ins[n].shape, ins[n].dtype) for n in ("X", "XBias", "Scale", "Bias") if ins.get(n) is not None
        },
        optional_outputs=("X@GRAD", "XBias@GRAD", "Scale@GRAD", "Bias@GRAD"),
    )
)
