"""Fusion passes: an op followed by relu becomes one fused op (minigraph/ops/fused.py), and,
in a training program, relu_grad followed by that op's gradient one fused gradient op.

- `fuse_bn_act`: batch_norm + relu -> `fused_batch_norm_act` (and
  `fused_batch_norm_act_grad`);
- `fuse_elewise_add_act`: elementwise_add + relu -> `fused_elemwise_add_activation` (and
  `fused_elemwise_add_activation_grad`).

Preserves: the values of every variable still in the program and of those in `keep`
(fetch targets, feeds) exactly (the fused kernels run the unfused kernels' arithmetic in
the same order), the persistables' updates, and `Program.verify()`. Only the first op's
output (batch_norm's Y, elementwise_add's Out) and, in training, the gradient between the
two grad ops leave the program.

A pair is fused only when nothing else can see the intermediate values: the first op's
output is a temporary read by the relu alone (not in `keep`, not in-place), and in a program
with gradients the relu_grad reading the relu's output writes a gradient that the first
op's own grad op alone reads. A forward pair whose gradient pair does not match that shape
is left alone, so a program is never half fused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from minigraph.ir.operator import Operator
from minigraph.ir.program import Program
from minigraph.passes.rewrite import readers, remove_unused_vars, replace_op

__all__ = ["fuse_bn_act", "fuse_elewise_add_act"]

_ACTS = {"relu": "relu_grad"}


@dataclass(frozen=True)
class _Pattern:
    op: str  # the op the activation follows
    out: str  # its output slot the activation reads (the fused grad reads the activation's output there)
    grad: str  # its grad op
    fused: str

    @property
    def dout(self) -> str:
        return f"{self.out}@GRAD"


BN_ACT = _Pattern("batch_norm", "Y", "batch_norm_grad", "fused_batch_norm_act")
ADD_ACT = _Pattern("elementwise_add", "Out", "elementwise_add_grad", "fused_elemwise_add_activation")


def fuse_bn_act(program: Program, keep: Iterable[str] = ()) -> Program:
    """Fuse every eligible batch_norm + relu (and their gradients) in `program`, in place;
    returns `program`."""
    return _fuse_all(program, BN_ACT, keep)


def fuse_elewise_add_act(program: Program, keep: Iterable[str] = ()) -> Program:
    """Fuse every eligible elementwise_add + relu (and their gradients) in `program`, in
    place; returns `program`."""
    return _fuse_all(program, ADD_ACT, keep)


def _fuse_all(program: Program, pattern: _Pattern, keep: Iterable[str]) -> Program:
    keep_set = set(keep)
    while True:
        found = _next_pair(program, pattern, keep_set)
        if found is None:
            return program
        _fuse(program, pattern, *found)


def _only_reader(ops: list[Operator], name: str) -> Operator | None:
    found = [op for op in ops if name in op.input_arg_names]
    return found[0] if len(found) == 1 else None


def _grad_of(op: Operator, grad: Operator) -> bool:
    """Whether `grad` reads the forward inputs `op` reads, slot for slot."""
    return all(grad.input(slot) == op.input(slot) for slot in op.inputs if slot in grad.inputs)


def _next_pair(
    program: Program, pattern: _Pattern, keep: set[str]
) -> tuple[Operator, Operator, Operator | None, Operator | None] | None:
    block = program.global_block()
    ops = list(block.ops)
    count = readers(program)

    def private(name: str) -> bool:
        v = block._find_var_recursive(name)
        return v is not None and not v.persistable and count.get(name, 0) == 1 and name not in keep

    for first in ops:
        if first.type != pattern.op:
            continue
        (y,) = first.output(pattern.out)
        if y in first.input_arg_names or not private(y):
            continue
        act = _only_reader(ops, y)
        if act is None or act.type not in _ACTS or act.input("X") != [y] or act.output("Out") == [y]:
            continue
        (z,) = act.output("Out")
        first_grads = [op for op in ops if op.type == pattern.grad and _grad_of(first, op)]
        act_grads = [op for op in ops if op.type == _ACTS[act.type] and op.input("Out") == [z]]
        if not first_grads and not act_grads:
            return first, act, None, None
        if len(act_grads) != 1:
            continue
        (dy,) = act_grads[0].output("X@GRAD") or [""]
        grad = _only_reader(first_grads, dy) if dy and private(dy) else None
        if grad is not None and grad.input(pattern.dout) == [dy]:
            return first, act, act_grads[0], grad
    return None


def _fuse(
    program: Program,
    pattern: _Pattern,
    first: Operator,
    act: Operator,
    act_grad: Operator | None,
    grad: Operator | None,
) -> None:
    block = program.global_block()
    (y,), (z,) = first.output(pattern.out), act.output("Out")
    attrs = {**first.attrs, "act_type": act.type}
    replace_op(block, first, pattern.fused, first.inputs, {**first.outputs, pattern.out: [z]}, attrs)
    block._remove_op(block.ops.index(act))
    dead = [y]
    if act_grad is not None and grad is not None:
        dead += act_grad.output("X@GRAD")
        inputs = {**grad.inputs, pattern.out: [z], pattern.dout: act_grad.input("Out@GRAD")}
        replace_op(block, grad, f"{pattern.fused}_grad", inputs, grad.outputs, attrs)
        block._remove_op(block.ops.index(act_grad))
    remove_unused_vars(program, dead)
