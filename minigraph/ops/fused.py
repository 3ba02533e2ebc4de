"""Fused ops the executor's passes (minigraph/passes/fuse.py) put in place of op pairs.

- `fused_batch_norm_act` (Paddle's name and slots, without ReserveSpace): batch_norm then
  an activation, applied in place on batch_norm's output buffer, so the pair makes one
  full-size array instead of two and the activation's output is never copied.
- `fused_batch_norm_act_grad`: the activation's gradient masks Y@GRAD, then batch_norm's
  gradient; the masked gradient is a temporary of the kernel, not a program variable.

- `fused_elemwise_add_activation` (Paddle's name; slots X, Y, Out and attrs axis, act_type):
  elementwise_add then the activation, applied in place on the sum's buffer.
- `fused_elemwise_add_activation_grad`: the activation's gradient masks Out@GRAD, then
  elementwise_add's gradient (reads X, Y, the fused Out and Out@GRAD).

- `fused_conv2d_add_act` (inference only): conv2d, the per-channel bias add, the activation
  and, with `pool_2x2`, a 2x2 stride-2 max pool, the epilogue computed in place on the conv's
  output buffer (the pool reads it and returns it to the pool of buffers).

Each computes exactly what its unfused pair computes (the same kernels in the same order;
the numba backend's loops apply the relu as they write Y, or mask Y@GRAD as they read it),
so the passes change results by nothing at all, not even rounding.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops import (  # noqa: F401  (register the ops the fused ones reuse)
    conv,
    conv_rows,
    math,  # noqa: F401
    pool,
)
from minigraph.ops.activation import relu_grad
from minigraph.ops.buffers import scrap
from minigraph.ops.common import align
from minigraph.ops.conv import conv_geometry
from minigraph.ops.norm import BN_ATTRS, batch_norm_grad_kernel, batch_norm_kernel, grad_maker, infer_batch_norm
from minigraph.registry import GradContext, get_op, register

# Activations whose gradient can be read off the activation's output alone.
FUSABLE_ACTS = ("relu",)


def _check_act(attrs: dict[str, Any]) -> None:
    if attrs["act_type"] not in FUSABLE_ACTS:
        raise GraphBuildError(f"act_type must be one of {FUSABLE_ACTS}, got {attrs['act_type']!r}")


def _relu_inplace(y: np.ndarray) -> np.ndarray:
    return np.maximum(y, y.dtype.type(0), out=y)


# --- fused_batch_norm_act -----------------------------------------------------------------

BN_ACT_ATTRS = {**BN_ATTRS, "act_type": "relu"}


def bn_act_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    _check_act(attrs)
    return infer_batch_norm(ins, attrs, op="fused_batch_norm_act")


def _bn_act(attrs: dict[str, Any], x: np.ndarray, *params: np.ndarray) -> tuple[np.ndarray, ...]:
    return batch_norm_kernel(attrs, x, *params, relu=True)


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
    return batch_norm_grad_kernel(attrs, x, scale, bias, saved_mean, saved_inv_std, dy, y=y)


# batch_norm's records with the fused kernels: the same slots, modes and in-place outputs;
# the gradient also reads Y (for the activation's mask).
register(
    replace(
        get_op("batch_norm"),
        type="fused_batch_norm_act",
        kernel=_bn_act,
        infer=bn_act_infer,
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


# --- fused_elemwise_add_activation ----------------------------------------------------------

_add, _add_grad = get_op("elementwise_add"), get_op("elementwise_add_grad")
ADD_ACT_ATTRS = {**_add.attrs, "act_type": "relu"}


def _add_act_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    _check_act(attrs)
    return _add.infer(ins, attrs)


def _add_act(attrs: dict[str, Any], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray]:
    (out,) = _add.kernel(attrs, x, y)  # a fresh array: the activation may overwrite it
    return (_relu_inplace(out),)


def _add_act_grad(
    attrs: dict[str, Any], x: np.ndarray, y: np.ndarray, out: np.ndarray, dout: np.ndarray
) -> tuple[np.ndarray | None, ...]:
    d_pre = relu_grad(attrs, out, dout)
    grads = _add_grad.kernel(attrs, x, y, d_pre)
    scrap(d_pre)  # kept only when no gradient returned is (a view of) it
    return grads


def _add_act_grad_maker(g: GradContext) -> None:
    """elementwise_add's gradient slots, plus the fused Out (for the activation's mask)."""
    slots = {s: g.input(s) for s in ("X", "Y")}
    slots.update({f"{s}@GRAD": g.in_grad(s) for s in ("X", "Y")})
    g.emit(
        "fused_elemwise_add_activation_grad", g.attrs, Out=g.output("Out"), **{"Out@GRAD": g.out_grad("Out")}, **slots
    )


register(
    replace(
        _add,
        type="fused_elemwise_add_activation",
        kernel=_add_act,
        infer=_add_act_infer,
        attrs=dict(ADD_ACT_ATTRS),
        grad=_add_act_grad_maker,
    )
)
register(
    replace(
        _add_grad,
        type="fused_elemwise_add_activation_grad",
        inputs=("X", "Y", "Out", "Out@GRAD"),
        kernel=_add_act_grad,
        attrs=dict(ADD_ACT_ATTRS),
    )
)


# --- fused_conv2d_add_act ------------------------------------------------------------------

_conv, _pool = get_op("conv2d"), get_op("pool2d")
CONV_ACT_ATTRS = {**_conv.attrs, "axis": 1, "act_type": "relu", "pool_2x2": False}


def pool_2x2_attrs(data_format: str) -> dict[str, Any]:
    """The pool2d attrs `fused_conv2d_add_act` applies with `pool_2x2` (and the only pool the
    fusion pass takes in)."""
    return {**_pool.attrs, "ksize": [2, 2], "strides": [2, 2], "data_format": data_format}


def _conv_act_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    _check_act(attrs)
    shape, dtype = _conv.infer(ins, attrs)["Output"]
    bias = ins["Bias"]
    channels = shape[1 if attrs["data_format"] == "NCHW" else 3]
    size_ok = len(bias.shape) == 1 and (-1 in (channels, bias.shape[0]) or bias.shape[0] == channels)
    if not size_ok or bias.dtype != dtype:
        raise GraphBuildError(f"Bias {bias.name!r} must be a {dtype} vector of the {channels} output channels")
    if attrs["pool_2x2"]:
        meta = replace_meta(ins["Input"], shape)
        shape, dtype = _pool.infer({"X": meta}, pool_2x2_attrs(attrs["data_format"]))["Out"]
    return {"Output": (shape, dtype)}


def replace_meta(v: Any, shape: tuple[int, ...]) -> Any:
    """A stand-in for variable `v` with another shape (for another op's shape inference)."""
    return SimpleNamespace(name=v.name, dtype=v.dtype, shape=tuple(shape))


def _conv_act(attrs: dict[str, Any], x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray]:
    if conv_rows.applies(attrs) and attrs["axis"] == 1:  # the epilogue fused into the compiled conv
        g = conv_geometry(attrs, x.shape, w.shape)
        pool = attrs["pool_2x2"] and g.out[0] % 2 == 0 and g.out[1] % 2 == 0
        out = conv_rows.forward(x, w, g, attrs["groups"], bias, relu=True, pool=pool)
        if pool or not attrs["pool_2x2"]:
            return (out,)
        (pooled,) = _pool.kernel(pool_2x2_attrs(attrs["data_format"]), out)
        scrap(out)
        return (pooled,)
    (out,) = _conv.kernel(attrs, x, w)  # the kernel's own fresh buffer: the epilogue runs in place on it
    np.add(out, align(bias, out.ndim, attrs["axis"]), out=out)
    _relu_inplace(out)
    if not attrs["pool_2x2"]:
        return (out,)
    (pooled,) = _pool.kernel(pool_2x2_attrs(attrs["data_format"]), out)
    scrap(out)
    return (pooled,)


register(
    replace(
        _conv,
        type="fused_conv2d_add_act",
        inputs=("Input", "Filter", "Bias"),
        kernel=_conv_act,
        infer=_conv_act_infer,
        attrs=dict(CONV_ACT_ATTRS),
        grad=None,
        no_grad="an inference fusion: fuse_conv_epilogue fuses only ops without gradients",
    )
)
