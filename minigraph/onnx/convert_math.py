"""ONNX converters for arithmetic: elementwise binaries (Paddle's `axis`), scale, mul
(x_num_col_dims / y_num_col_dims), matmul (transposes, alpha), sum, cast, assign and the
constant makers."""

from __future__ import annotations

import numpy as np

from minigraph.ir.operator import Operator
from minigraph.onnx.emitter import Emitter, converts

BINARY = {
    "elementwise_add": "Add",
    "elementwise_sub": "Sub",
    "elementwise_mul": "Mul",
    "elementwise_div": "Div",
    "elementwise_max": "Max",
    "elementwise_min": "Min",
}


@converts(*BINARY)
def _elementwise(e: Emitter, op: Operator) -> None:
    # Paddle's axis: a lower-rank Y lines up with X's dims starting at `axis`, so it gets
    # trailing unit dims; axis=-1 (or equal ranks) is numpy broadcasting, as in ONNX.
    x, y = e.input(op, "X"), e.input(op, "Y")
    x_rank, y_rank = len(e.in_var(op, "X").shape), len(e.in_var(op, "Y").shape)
    axis = op.attr("axis")
    if axis != -1 and y_rank != x_rank:
        if axis < 0 or axis + y_rank > x_rank:
            raise e.fail(op, f"axis={axis} does not place a rank-{y_rank} Y inside a rank-{x_rank} X")
        y = e.unsqueeze(y, range(y_rank, x_rank - axis))
    e.node(BINARY[op.type], [x, y], [e.output(op, "Out")])


@converts("scale")
def _scale(e: Emitter, op: Operator) -> None:
    x, dtype = e.input(op, "X"), e.in_var(op, "X").dtype
    s, b = op.attr("scale"), op.attr("bias")
    out = e.output(op, "Out")
    # Same order of operations as the kernel; a multiply by 1 or an add of 0 is left out
    # (exact either way).
    steps = [("Mul", s, s != 1.0), ("Add", b, b != 0.0)]
    if not op.attr("bias_after_scale"):
        steps.reverse()
    todo = [(kind, v) for kind, v, needed in steps if needed]
    if not todo:
        e.node("Identity", [x], [out])
    for i, (kind, v) in enumerate(todo):
        x = e.node1(kind, [x, e.scalar(v, dtype, kind.lower())], out if i == len(todo) - 1 else None)


@converts("mul")
def _mul(e: Emitter, op: Operator) -> None:
    # Paddle's mul flattens X to 2-D at x_num_col_dims and Y at y_num_col_dims, multiplies,
    # and reshapes to X.shape[:kx] + Y.shape[ky:]. ONNX Flatten(axis) is exactly that 2-D view.
    kx, ky = op.attr("x_num_col_dims"), op.attr("y_num_col_dims")
    xv, yv = e.in_var(op, "X"), e.in_var(op, "Y")
    x, y = e.input(op, "X"), e.input(op, "Y")
    if not (kx == 1 and len(xv.shape) == 2):
        x = e.node1("Flatten", [x], axis=kx)
    if not (ky == 1 and len(yv.shape) == 2):
        y = e.node1("Flatten", [y], axis=ky)
    out = e.output(op, "Out")
    lead, tail = list(xv.shape[:kx]), list(yv.shape[ky:])
    if len(lead) == 1 and len(tail) == 1:
        e.node("MatMul", [x, y], [out])
        return
    product = e.node1("MatMul", [x, y])
    e.node("Reshape", [product, _target_shape(e, op, lead, tail)], [out])


def _target_shape(e: Emitter, op: Operator, lead: list[int], tail: list[int]) -> str:
    """The shape X.shape[:kx] + Y.shape[ky:] as an int64 tensor: a constant (one unknown dim
    becomes -1) or, with several unknown leading dims, read from X's shape at run time."""
    if sum(d < 0 for d in lead + tail) <= 1:
        return e.ints(lead + tail, "shape")
    if any(d < 0 for d in tail):
        raise e.fail(op, "Y has unknown dims after y_num_col_dims and X has an unknown dim too")
    x_shape = e.node1("Shape", [e.input(op, "X")], end=len(lead)) if e.opset >= 15 else _shape_prefix(e, op, len(lead))
    return e.node1("Concat", [x_shape, e.ints(tail, "tail")], axis=0)


def _shape_prefix(e: Emitter, op: Operator, n: int) -> str:
    shape = e.node1("Shape", [e.input(op, "X")])
    return e.node1("Slice", [shape, e.ints([0], "start"), e.ints([n], "end")])


@converts("matmul")
def _matmul(e: Emitter, op: Operator) -> None:
    # ONNX MatMul has numpy's semantics (1-D operands, broadcast batch dims) like the
    # kernel; transposes swap the last two dims of operands of rank >= 2 only.
    operands = []
    for slot, flag in (("X", "transpose_X"), ("Y", "transpose_Y")):
        v, rank = e.input(op, slot), len(e.in_var(op, slot).shape)
        if op.attr(flag) and rank > 1:
            perm = list(range(rank))
            perm[-1], perm[-2] = perm[-2], perm[-1]
            v = e.transpose(v, perm)
        operands.append(v)
    out = e.output(op, "Out")
    alpha = op.attr("alpha")
    if alpha == 1.0:
        e.node("MatMul", operands, [out])
        return
    product = e.node1("MatMul", operands)
    e.node("Mul", [product, e.scalar(alpha, e.out_var(op, "Out").dtype, "alpha")], [out])


@converts("sum")
def _sum(e: Emitter, op: Operator) -> None:
    xs = e.inputs(op, "X")
    e.node("Sum" if len(xs) > 1 else "Identity", xs, [e.output(op, "Out")])


@converts("assign")
def _assign(e: Emitter, op: Operator) -> None:
    e.node("Identity", [e.input(op, "X")], [e.output(op, "Out")])


@converts("cast")
def _cast(e: Emitter, op: Operator) -> None:
    dtype = e.out_var(op, "Out").dtype
    e.node("Cast", [e.input(op, "X")], [e.output(op, "Out")], to=e.elem_type(dtype))


@converts("fill_constant")
def _fill_constant(e: Emitter, op: Operator) -> None:
    dtype = e.out_var(op, "Out").dtype
    value = e.onnx.numpy_helper.from_array(np.asarray([op.attr("value")], dtype=dtype), "value")
    e.node("ConstantOfShape", [e.ints(op.attr("shape"), "shape")], [e.output(op, "Out")], value=value)


@converts("fill_any_like", "fill_zeros_like")
def _fill_like(e: Emitter, op: Operator) -> None:
    dtype = e.out_var(op, "Out").dtype
    fill = op.attr("value") if op.has_attr("value") else 0
    value = e.onnx.numpy_helper.from_array(np.asarray([fill], dtype=dtype), "value")
    shape = e.node1("Shape", [e.input(op, "X")])
    e.node("ConstantOfShape", [shape], [e.output(op, "Out")], value=value)


@converts("assign_value")
def _assign_value(e: Emitter, op: Operator) -> None:
    dtype = e.out_var(op, "Out").dtype
    arr = np.array(op.attr("values"), dtype=dtype).reshape(op.attr("shape"))
    value = e.onnx.numpy_helper.from_array(arr, "value")
    e.node("Constant", [], [e.output(op, "Out")], value=value)
