"""Fused ops the executor's passes (minigraph/passes/fuse.py) put in place of op pairs.

- `fused_batch_norm_act` (Paddle's name and slots, without ReserveSpace): batch_norm then
  an activation, applied in place on batch_norm's output buffer, so the pair makes one
  full-size array instead of two and the activation's output is never copied.
- `fused_batch_norm_act_grad`: the activation's gradient masks Y@GRAD, then batch_norm's
  gradient; the masked gradient is a temporary of the kernel, not a program variable.

Each computes exactly what its unfused pair computes (the same kernels in the same order),
so the passes change results by nothing at all, not even rounding.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops.activation import relu_grad
from minigraph.ops.buffers import scrap
from minigraph.ops.norm import BN_ATTRS, batch_norm_grad_kernel, batch_norm_kernel, grad_maker, infer_batch_norm
from minigraph.registry import get_op, register

# Activations whose gradient can be read off the activation's output alone.
FUSABLE_ACTS = ("relu",)


def _check_act(attrs: dict[str, Any]) -> None:
    if attrs["act_type"] not in FUSABLE_ACTS:
        raise GraphBuildError(f"act_type must be one of {FUSABLE_ACTS}, got {attrs['act_type']!r}")


def _relu_inplace(y: np.ndarray) -> np.ndarray:
    return np.maximum(y, y.dtype.type(0), out=y)


# --- fused_batch_norm_act -----------------------------------------------------------------

BN_ACT_ATTRS = {**BN_ATTRS, "act_type": "relu"}


def _bn_act_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    _check_act(attrs)
    return infer_batch_norm(ins, attrs, op="fused_batch_norm_act")


def _bn_act(attrs: dict[str, Any], x: np.ndarray, *params: np.ndarray) -> tuple[np.ndarray, ...]:
    y, *rest = batch_norm_kernel(attrs, x, *params)
    return (_relu_inplace(y), *rest)


def _bn_act_grad(
    attrs: dict[str, Any],
    x: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    y: np.ndarray,
    saved_mean: np.ndarray,
    saved_inv_std: np.ndarray,
    dy: np.ndarray,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    d_pre = relu_grad(attrs, y, dy)
    grads = batch_norm_grad_kernel(attrs, x, scale, bias, saved_mean, saved_inv_std, d_pre)
    scrap(d_pre)
    return grads


# batch_norm's records with the fused kernels: the same slots, modes and in-place outputs;
# the gradient also reads Y (for the activation's mask).
register(
    replace(
        get_op("batch_norm"),
        type="fused_batch_norm_act",
        kernel=_bn_act,
        infer=_bn_act_infer,
        attrs=dict(BN_ACT_ATTRS),
        grad=grad_maker("fused_batch_norm_act_grad", reads_y=True),
    )
)
_bn_grad = get_op("batch_norm_grad")
register(
    replace(
        _bn_grad,
        type="fused_batch_norm_act_grad",
        inputs=(*_bn_grad.inputs[:3], "Y", *_bn_grad.inputs[3:]),
        kernel=_bn_act_grad,
        attrs=dict(BN_ACT_ATTRS),
    )
)
