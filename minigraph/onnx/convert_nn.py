"""ONNX converters for conv2d, batch_norm and dropout (test mode); pool2d is in
convert_pool.py.

ONNX's Conv works on NCHW; an NHWC op is wrapped in two Transposes. Window geometry
(SAME/VALID/explicit padding, 2- or 4-element paddings) comes from the kernels' own
`minigraph.ops.spatial.geometry`, so both sides agree on every pad by construction.
"""

from __future__ import annotations

from minigraph.ir.operator import Operator
from minigraph.onnx.emitter import Emitter, converts
from minigraph.ops.norm import uses_batch_stats
from minigraph.ops.spatial import geometry

TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def onnx_pads(pads: tuple[int, int, int, int]) -> list[int]:
    """minigraph's [top, bottom, left, right] as ONNX's [top, left, bottom, right]."""
    t, b, left, r = pads
    return [t, left, b, r]


def nchw_input(e: Emitter, op: Operator, slot: str, fmt: str) -> tuple[str, tuple[int, int]]:
    x, shape = e.input(op, slot), e.in_var(op, slot).shape
    if fmt == "NHWC":
        return e.transpose(x, TO_NCHW), (shape[1], shape[2])
    return x, (shape[2], shape[3])


def nchw_output(
    e: Emitter, op: Operator, slot: str, fmt: str, onnx_type: str, inputs: list[str], **attrs: object
) -> None:
    """Emit `onnx_type` over NCHW `inputs` into output `slot`, transposed back for NHWC."""
    out = e.output(op, slot)
    if fmt == "NHWC":
        e.transpose(e.node1(onnx_type, inputs, **attrs), TO_NHWC, out)
    else:
        e.node(onnx_type, inputs, [out], **attrs)


@converts("conv2d")
def _conv2d(e: Emitter, op: Operator) -> None:
    fmt = op.attr("data_format")
    x, hw = nchw_input(e, op, "Input", fmt)
    kernel = list(e.in_var(op, "Filter").shape[2:])
    attrs: dict[str, object] = {"group": op.attr("groups"), "kernel_shape": kernel}
    if op.attr("padding_algorithm") == "SAME" and min(hw) < 0:
        # Paddle's SAME puts the odd padding cell at the end: ONNX's SAME_UPPER.
        attrs.update(auto_pad="SAME_UPPER", strides=op.attr("strides"), dilations=[1, 1])
    else:
        g = geometry(
            hw, kernel, op.attr("strides"), op.attr("dilations"), op.attr("paddings"), op.attr("padding_algorithm")
        )
        attrs.update(pads=onnx_pads(g.pads), strides=list(g.strides), dilations=list(g.dilations))
    nchw_output(e, op, "Output", fmt, "Conv", [x, e.input(op, "Filter")], **attrs)


# --- batch_norm and dropout --------------------------------------------------------------------


@converts("batch_norm")
def _batch_norm(e: Emitter, op: Operator) -> None:
    rank = len(e.in_var(op, "X").shape)
    axis = 1 if op.attr("data_layout") == "NCHW" or rank == 2 else rank - 1
    x, out = e.input(op, "X"), e.output(op, "Y")
    scale, bias, mean, var = (e.input(op, s) for s in ("Scale", "Bias", "Mean", "Variance"))
    if uses_batch_stats(op.attrs):  # is_test with trainable_statistics: this batch's statistics
        _batch_statistics(e, op, x, axis, rank, scale, bias, out)
        return
    eps = float(op.attr("epsilon"))
    if axis == 1:
        e.node("BatchNormalization", [x, scale, bias, mean, var], [out], epsilon=eps)
        return
    to_first = [0, axis] + [i for i in range(1, rank) if i != axis]
    back = [to_first.index(i) for i in range(rank)]
    y = e.node1("BatchNormalization", [e.transpose(x, to_first), scale, bias, mean, var], epsilon=eps)
    e.transpose(y, back, out)


def _batch_statistics(e: Emitter, op: Operator, x: str, axis: int, rank: int, scale: str, bias: str, out: str) -> None:
    """The kernel's batch-statistics formula: biased two-pass variance from the centred
    values, then (x - mean) * (scale / sqrt(var + eps)) + bias."""
    dtype = e.in_var(op, "X").dtype
    others = [i for i in range(rank) if i != axis]
    mean = e.reduce("ReduceMean", x, others, True)
    centred = e.node1("Sub", [x, mean])
    var = e.reduce("ReduceMean", e.node1("Mul", [centred, centred]), others, True)
    std = e.node1("Sqrt", [e.node1("Add", [var, e.scalar(op.attr("epsilon"), dtype, "eps")])])
    inv_std = e.node1("Reciprocal", [std])
    # unit dims everywhere but `axis` put the per-channel vectors on the channel axis
    gain = e.node1("Mul", [inv_std, e.unsqueeze(scale, others)])
    e.node("Add", [e.node1("Mul", [centred, gain]), e.unsqueeze(bias, others)], [out])


@converts("dropout")
def _dropout(e: Emitter, op: Operator) -> None:
    x, out = e.input(op, "X"), e.output(op, "Out")
    if op.attr("dropout_implementation") == "upscale_in_train":
        e.node("Identity", [x], [out])  # scaled in training, so the identity in test mode
        return
    keep = 1.0 - op.attr("dropout_prob")  # downgrade_in_infer: scale by the keep rate
    e.node("Mul", [x, e.scalar(keep, e.in_var(op, "X").dtype, "keep")], [out])
