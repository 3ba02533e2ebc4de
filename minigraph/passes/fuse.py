"""Fusion pass: batch_norm followed by relu becomes one `fused_batch_norm_act` op, and, in
a training program, relu_grad followed by batch_norm_grad one `fused_batch_norm_act_grad`
(minigraph/ops/fused.py).

Preserves: the values of every variable still in the program and of those in `keep`
(fetch targets, feeds) exactly (the fused kernels run the unfused kernels' arithmetic in
the same order), the persistables' updates, and `Program.verify()`. Only batch_norm's
output Y and, in training, the gradient between the two grad ops leave the program.

A pair is fused only when nothing else can see the intermediate values: Y is a
temporary read by the relu alone (not in `keep`, not in-place), and in a program with
gradients the relu_grad reading the relu's output writes a gradient that batch_norm_grad
of the same batch_norm alone reads. A forward pair whose gradient pair does not match that
shape is left alone, so a program is never half fused.
"""

from __future__ import annotations

from collections.abc import Iterable

from minigraph.ir.operator import Operator
from minigraph.ir.program import Program
from minigraph.passes.rewrite import readers, remove_unused_vars, replace_op

__all__ = ["fuse_bn_act"]

_ACTS = {"relu": "relu_grad"}


def fuse_bn_act(program: Program, keep: Iterable[str] = ()) -> Program:
    """Fuse every eligible batch_norm + relu (and their gradients) in `program`, in place;
    returns `program`."""
    keep_set = set(keep)
    while True:
        found = _next_pair(program, keep_set)
        if found is None:
            return program
        _fuse(program, *found)


def _only_reader(ops: list[Operator], name: str) -> Operator | None:
    found = [op for op in ops if name in op.input_arg_names]
    return found[0] if len(found) == 1 else None


def _next_pair(program: Program, keep: set[str]) -> tuple[Operator, Operator, Operator | None, Operator | None] | None:
    block = program.global_block()
    ops = list(block.ops)
    count = readers(program)

    def private(name: str) -> bool:
        v = block._find_var_recursive(name)
        return v is not None and not v.persistable and count.get(name, 0) == 1 and name not in keep

    for bn in ops:
        if bn.type != "batch_norm":
            continue
        (x,), (y,) = bn.input("X"), bn.output("Y")
        if x == y or not private(y):
            continue
        act = _only_reader(ops, y)
        if act is None or act.type not in _ACTS or act.input("X") != [y] or act.output("Out") == [y]:
            continue
        (z,) = act.output("Out")
        saved = bn.output("SavedMean")
        bn_grads = [op for op in ops if op.type == "batch_norm_grad" and saved and op.input("SavedMean") == saved]
        act_grads = [op for op in ops if op.type == _ACTS[act.type] and op.input("Out") == [z]]
        if not bn_grads and not act_grads:
            return bn, act, None, None
        if len(bn_grads) != 1 or len(act_grads) != 1:
            continue
        (dy,) = act_grads[0].output("X@GRAD") or [""]
        if dy and private(dy) and bn_grads[0].input("Y@GRAD") == [dy]:
            return bn, act, act_grads[0], bn_grads[0]
    return None


def _fuse(program: Program, bn: Operator, act: Operator, act_grad: Operator | None, bn_grad: Operator | None) -> None:
    block = program.global_block()
    (y,), (z,) = bn.output("Y"), act.output("Out")
    attrs = {**bn.attrs, "act_type": act.type}
    replace_op(block, bn, "fused_batch_norm_act", bn.inputs, {**bn.outputs, "Y": [z]}, attrs)
    block._remove_op(block.ops.index(act))
    dead = [y]
    if act_grad is not None and bn_grad is not None:
        dead += act_grad.output("X@GRAD")
        inputs = {**bn_grad.inputs, "Y": [z], "Y@GRAD": act_grad.input("Out@GRAD")}
        replace_op(block, bn_grad, "fused_batch_norm_act_grad", inputs, bn_grad.outputs, attrs)
        block._remove_op(block.ops.index(act_grad))
    remove_unused_vars(program, dead)
