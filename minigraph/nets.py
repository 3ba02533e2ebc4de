"""fluid.nets: small networks composed from layers, as fluid's book models use them.

Each is plain layer calls (no ops of its own), so it builds in static and eager mode alike.
`sequence_conv_pool` is absent: it works on variable-length sequences, which minigraph
refuses (pad them and pass a mask).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minigraph.errors import GraphBuildError
from minigraph.ir.variable import Variable
from minigraph.layers.activation import sigmoid, softmax
from minigraph.layers.conv import conv2d, dropout, pool2d
from minigraph.layers.math import elementwise_mul, matmul, scale
from minigraph.layers.nn import fc
from minigraph.layers.norm import batch_norm
from minigraph.layers.shape import reshape, split, transpose
from minigraph.types import shape_text

__all__ = ["glu", "img_conv_group", "scaled_dot_product_attention", "simple_img_conv_pool"]


def simple_img_conv_pool(
    input: Variable,
    num_filters: int,
    filter_size: Any,
    pool_size: Any,
    pool_stride: Any,
    pool_padding: Any = 0,
    pool_type: str = "max",
    global_pooling: bool = False,
    conv_stride: Any = 1,
    conv_padding: Any = 0,
    conv_dilation: Any = 1,
    conv_groups: int | None = 1,
    param_attr: Any = None,
    bias_attr: Any = None,
    act: str | None = None,
    use_cudnn: bool = True,
) -> Variable:
    """conv2d (with `act`) then pool2d.

    h = mg.nets.simple_img_conv_pool(img, 20, 5, pool_size=2, pool_stride=2, act="relu")
    """
    conv = conv2d(
        input,
        num_filters,
        filter_size,
        stride=conv_stride,
        padding=conv_padding,
        dilation=conv_dilation,
        groups=conv_groups,
        param_attr=param_attr,
        bias_attr=bias_attr,
        act=act,
    )
    return pool2d(
        conv,
        pool_size=pool_size,
        pool_type=pool_type,
        pool_stride=pool_stride,
        pool_padding=pool_padding,
        global_pooling=global_pooling,
    )


def _per_conv(what: str, value: Any, n: int) -> list[Any]:
    """One value per convolution: a scalar repeats, a list must have one entry per conv."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise GraphBuildError(f"img_conv_group: {what} has {len(value)} entries for {n} convolutions")
        return list(value)
    return [value] * n


def img_conv_group(
    input: Variable,
    conv_num_filter: Sequence[int],
    pool_size: Any,
    conv_padding: Any = 1,
    conv_filter_size: Any = 3,
    conv_act: str | None = None,
    param_attr: Any = None,
    conv_with_batchnorm: Any = False,
    conv_batchnorm_drop_rate: Any = 0.0,
    pool_stride: Any = 1,
    pool_type: str = "max",
    use_cudnn: bool = True,
) -> Variable:
    """A VGG block: one conv2d per entry of `conv_num_filter`, each followed (where
    `conv_with_batchnorm`) by batch_norm carrying `conv_act` and a dropout of
    `conv_batchnorm_drop_rate` (skipped when 0), then one pool2d. Per-conv arguments take
    a scalar or a list with one entry per conv.

        h = mg.nets.img_conv_group(img, [64, 64], pool_size=2, pool_stride=2, conv_act="relu",
                                   conv_with_batchnorm=True, conv_batchnorm_drop_rate=[0.3, 0])
    """
    if not isinstance(conv_num_filter, (list, tuple)) or not conv_num_filter:
        raise GraphBuildError(f"img_conv_group: conv_num_filter must be a non-empty list, got {conv_num_filter!r}")
    n = len(conv_num_filter)
    paddings = _per_conv("conv_padding", conv_padding, n)
    sizes = _per_conv("conv_filter_size", conv_filter_size, n)
    attrs = _per_conv("param_attr", param_attr, n)
    with_bn = _per_conv("conv_with_batchnorm", conv_with_batchnorm, n)
    drop_rates = _per_conv("conv_batchnorm_drop_rate", conv_batchnorm_drop_rate, n)
    h = input
    for i in range(n):
        # With batch_norm after it, the conv's act moves onto the batch_norm.
        h = conv2d(
            h,
            conv_num_filter[i],
            sizes[i],
            padding=paddings[i],
            param_attr=attrs[i],
            act=None if with_bn[i] else conv_act,
        )
        if with_bn[i]:
            h = batch_norm(h, act=conv_act)
            if abs(drop_rates[i]) > 1e-5:
                h = dropout(h, dropout_prob=drop_rates[i])
    return pool2d(h, pool_size=pool_size, pool_type=pool_type, pool_stride=pool_stride)


def glu(input: Variable, dim: int = -1) -> Variable:
    """Gated linear unit: split `input` in two halves a, b along `dim`; a * sigmoid(b)."""
    a, b = split(input, 2, dim=dim)
    return elementwise_mul(a, sigmoid(b))


def _split_heads(x: Variable, num_heads: int) -> Variable:
    """[N, L, D] -> [N, H, L, D / H]."""
    if num_heads == 1:
        return x
    n_dim = x.shape[-1]
    return transpose(reshape(x, [0, 0, num_heads, n_dim // num_heads]), [0, 2, 1, 3])


def _combine_heads(x: Variable) -> Variable:
    """[N, H, L, D / H] -> [N, L, D]."""
    if len(x.shape) == 3:
        return x
    t = transpose(x, [0, 2, 1, 3])
    return reshape(t, [0, 0, t.shape[2] * t.shape[3]])


def scaled_dot_product_attention(
    queries: Variable, keys: Variable, values: Variable, num_heads: int = 1, dropout_rate: float = 0.0
) -> Variable:
    """softmax(q k^T / sqrt(d_head)) v over [N, L, D] inputs. With num_heads > 1, q, k and v
    first go through their own fc projection (fluid's behaviour) and are split into heads,
    whose results are concatenated back to [N, Lq, Dv]. `dropout_rate` drops attention
    weights while training.

        ctx = mg.nets.scaled_dot_product_attention(q, k, v, num_heads=2)
    """
    for what, v in (("queries", queries), ("keys", keys), ("values", values)):
        if len(v.shape) != 3:
            raise GraphBuildError(
                f"scaled_dot_product_attention: {what} {v.name!r} must be 3-D [N, L, D], got {shape_text(v.shape)}"
            )
    if queries.shape[-1] != keys.shape[-1]:
        raise GraphBuildError("scaled_dot_product_attention: queries and keys must have the same hidden size")
    if keys.shape[1] != values.shape[1] and -1 not in (keys.shape[1], values.shape[1]):
        raise GraphBuildError("scaled_dot_product_attention: keys and values must have the same length")
    if queries.shape[-1] % num_heads or values.shape[-1] % num_heads:
        raise GraphBuildError(
            f"scaled_dot_product_attention: the hidden sizes ({queries.shape[-1]}, {values.shape[-1]}) must be "
            f"divisible by num_heads={num_heads}"
        )
    q, k, v = queries, keys, values
    if num_heads > 1:
        q = fc(queries, keys.shape[-1], num_flatten_dims=2)
        k = fc(keys, keys.shape[-1], num_flatten_dims=2)
        v = fc(values, values.shape[-1], num_flatten_dims=2)
    q, k, v = (_split_heads(t, num_heads) for t in (q, k, v))
    scaled_q = scale(q, (keys.shape[-1] // num_heads) ** -0.5)
    weights = softmax(matmul(scaled_q, k, transpose_y=True))
    if dropout_rate:
        weights = dropout(weights, dropout_prob=dropout_rate)
    return _combine_heads(matmul(weights, v))
