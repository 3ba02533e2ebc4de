"""`fuse_bias_bn_act`: an fc layer's bias add taken into the training batch_norm + relu after
it (and the add's gradient into that op's gradient): elementwise_add + fused_batch_norm_act
-> `fused_bias_batch_norm_act` (minigraph/ops/fused_bias_norm.py). Runs after fuse_bn_act.

Taken where X is [N, C], the added Y is a [C] vector on the channel axis, batch_norm
normalises with batch statistics, and nothing but batch_norm (and its gradient) sees the
sum: it is not persistable, not in `keep`, and in a program with gradients the add's
gradient reads the one gradient batch_norm's gradient writes for it, which nothing else
reads. A forward pair whose gradient pair does not match that shape is left alone, so a
program is never half fused.

Preserves, as the other fusions do, the values of every variable left and of `keep`
exactly (the fused kernels round the sum as the add does), the persistables' updates, and
`Program.verify()`. The sum and, in training, its gradient leave the program.
"""

from __future__ import annotations

from collections.abc import Iterable

from minigraph.ir.operator import Operator
from minigraph.ir.program import Program
from minigraph.ops.layout import channel_axis
from minigraph.ops.norm import uses_batch_stats
from minigraph.passes.rewrite import readers, remove_unused_vars, replace_op, rewrite_each

__all__ = ["fuse_bias_bn_act"]

Found = tuple[Operator, Operator, Operator | None, Operator | None]


def fuse_bias_bn_act(program: Program, keep: Iterable[str] = ()) -> Program:
    """Fuse every eligible bias add + fused_batch_norm_act (and their gradients) in
    `program`, in place; returns `program`."""
    keep_set = set(keep)
    return rewrite_each(program, lambda p: _next(p, keep_set), _fuse)


def _next(program: Program, keep: set[str]) -> Found | None:
    block = program.global_block()
    ops = list(block.ops)
    count = readers(program)
    for bn in ops:
        if bn.type != "fused_batch_norm_act" or not uses_batch_stats(bn.attrs):
            continue
        (h,) = bn.input("X")
        var = block._find_var_recursive(h)
        if var is None or var.persistable or h in keep or len(var.shape) != 2:
            continue
        if channel_axis(bn.attrs["data_layout"], 2) != 1:
            continue
        add = next((op for op in ops if h in op.output_arg_names), None)
        if add is None or add.type != "elementwise_add" or add.output("Out") != [h] or add.attrs["axis"] not in (1, -1):
            continue
        (x,), (b,) = add.input("X"), add.input("Y")
        xv, bv = block._find_var_recursive(x), block._find_var_recursive(b)
        if h in (x, b) or xv is None or bv is None or tuple(bv.shape) != (var.shape[1],) or var.shape[1] < 0:
            continue
        bn_grads = [op for op in ops if op.type == "fused_batch_norm_act_grad" and op.input("X") == [h]]
        if not bn_grads:
            if count.get(h, 0) == 1 and not _add_grads(ops, x, b):
                return bn, add, None, None
            continue
        if len(bn_grads) != 1 or count.get(h, 0) != 2:
            continue
        dh = bn_grads[0].output("X@GRAD")
        if len(dh) != 1 or count.get(dh[0], 0) != 1 or dh[0] in keep:
            continue
        add_grads = [op for op in _add_grads(ops, x, b) if op.input("Out@GRAD") == dh]
        if len(add_grads) == 1:
            return bn, add, bn_grads[0], add_grads[0]
    return None


def _add_grads(ops: list[Operator], x: str, b: str) -> list[Operator]:
    return [op for op in ops if op.type == "elementwise_add_grad" and op.input("X") == [x] and op.input("Y") == [b]]


def _fuse(program: Program, bn: Operator, add: Operator, bn_grad: Operator | None, add_grad: Operator | None) -> None:
    block = program.global_block()
    (h,) = bn.input("X")
    biased = {"X": add.input("X"), "XBias": add.input("Y")}
    replace_op(block, bn, "fused_bias_batch_norm_act", {**bn.inputs, **biased}, bn.outputs, dict(bn.attrs))
    block._remove_op(block.ops.index(add))
    dead = [h]
    if bn_grad is not None and add_grad is not None:
        dead += bn_grad.output("X@GRAD")
        outputs = {
            "X@GRAD": add_grad.output("X@GRAD"),
            "XBias@GRAD": add_grad.output("Y@GRAD"),
            "Scale@GRAD": bn_grad.output("Scale@GRAD"),
            "Bias@GRAD": bn_grad.output("Bias@GRAD"),
        }
        inputs = {**bn_grad.inputs, **biased}
        replace_op(block, bn_grad, "fused_bias_batch_norm_act_grad", inputs, outputs, dict(bn_grad.attrs))
        block._remove_op(block.ops.index(add_grad))
    remove_unused_vars(program, dead)
