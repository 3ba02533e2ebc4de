"""ONNX converters for activations, reductions and shape ops (reshape2, transpose2,
flatten2, concat, split). XShape outputs are not exported (they only serve gradients)."""

from __future__ import annotations

from minigraph.ir.operator import Operator
from minigraph.onnx.emitter import Emitter, converts
from minigraph.ops.shape import split_sizes

UNARY = {
    "relu": "Relu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "abs": "Abs",
}


@converts(*UNARY)
def _unary(e: Emitter, op: Operator) -> None:
    e.node(UNARY[op.type], [e.input(op, "X")], [e.output(op, "Out")])


@converts("square")
def _square(e: Emitter, op: Operator) -> None:
    x = e.input(op, "X")
    e.node("Mul", [x, x], [e.output(op, "Out")])  # x * x, as the kernel computes it


@converts("leaky_relu")
def _leaky_relu(e: Emitter, op: Operator) -> None:
    e.node("LeakyRelu", [e.input(op, "X")], [e.output(op, "Out")], alpha=float(op.attr("alpha")))


@converts("softmax", "log_softmax")
def _softmax(e: Emitter, op: Operator) -> None:
    rank = len(e.in_var(op, "X").shape)
    if rank == 0:
        raise e.fail(op, "a 0-D input has no axis to normalise along in ONNX")
    onnx_type = "Softmax" if op.type == "softmax" else "LogSoftmax"
    e.node(onnx_type, [e.input(op, "X")], [e.output(op, "Out")], axis=op.attr("axis") % rank)


# --- reductions ----------------------------------------------------------------------------

REDUCE = {"reduce_sum": "ReduceSum", "reduce_mean": "ReduceMean", "reduce_max": "ReduceMax"}


def reduced_axes(op: Operator, rank: int) -> list[int]:
    """Paddle's rule: reduce_all, an empty `dim`, or a 0-D input reduce every axis."""
    dims = list(op.attr("dim"))
    if op.attr("reduce_all") or not dims or rank == 0:
        return list(range(rank))
    return sorted({d % rank for d in dims})


@converts(*REDUCE)
def _reduce(e: Emitter, op: Operator) -> None:
    axes = reduced_axes(op, len(e.in_var(op, "X").shape))
    e.reduce(REDUCE[op.type], e.input(op, "X"), axes, op.attr("keep_dim"), e.output(op, "Out"))


@converts("mean")
def _mean(e: Emitter, op: Operator) -> None:
    rank = len(e.in_var(op, "X").shape)
    e.reduce("ReduceMean", e.input(op, "X"), list(range(rank)), False, e.output(op, "Out"))


# --- shape ops -------------------------------------------------------------------------------


@converts("reshape2")
def _reshape(e: Emitter, op: Operator) -> None:
    # ONNX Reshape has Paddle's spec exactly: 0 copies the input dim at that index (with
    # allowzero=0, the default), one -1 is inferred.
    e.node("Reshape", [e.input(op, "X"), e.ints(op.attr("shape"), "shape")], [e.output(op, "Out")])


@converts("transpose2")
def _transpose(e: Emitter, op: Operator) -> None:
    e.transpose(e.input(op, "X"), op.attr("axis"), e.output(op, "Out"))


@converts("flatten2")
def _flatten(e: Emitter, op: Operator) -> None:
    e.node("Flatten", [e.input(op, "X")], [e.output(op, "Out")], axis=op.attr("axis"))


@converts("concat")
def _concat(e: Emitter, op: Operator) -> None:
    rank = len(e.in_var(op, "X").shape)
    e.node("Concat", e.inputs(op, "X"), [e.output(op, "Out")], axis=op.attr("axis") % rank)


@converts("split")
def _split(e: Emitter, op: Operator) -> None:
    shape = e.in_var(op, "X").shape
    axis = op.attr("axis") % len(shape)
    sizes = split_sizes(shape[axis], op.attr("num"), op.attr("sections"))
    outs = e.outputs(op, "Out")
    if all(s >= 0 for s in sizes):
        e.node("Split", [e.input(op, "X"), e.ints(sizes, "split")], outs, axis=axis)
    elif op.attr("sections"):
        raise e.fail(op, f"sections {op.attr('sections')} along axis {axis}, whose size is unknown when exporting")
    elif e.opset >= 18:  # equal parts of an unknown size (split_sizes checked divisibility when it could)
        e.node("Split", [e.input(op, "X")], outs, axis=axis, num_outputs=len(outs))
    else:
        e.node("Split", [e.input(op, "X")], outs, axis=axis)
