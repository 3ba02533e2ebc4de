"""Fusion passes: an op followed by relu becomes one fused op (minigraph/ops/fused.py), and,
in a training program, relu_grad followed by that op's gradient one fused gradient op.

- `fuse_bn_act`: batch_norm + relu -> `fused_batch_norm_act` (and
  `fused_batch_norm_act_grad`);
- `fuse_elewise_add_act`: elementwise_add + relu -> `fused_elemwise_add_activation` (and
  `fused_elemwise_add_activation_grad`);
- `fuse_conv_epilogue` (inference): conv2d + per-channel bias add + relu (+ a 2x2 stride-2
  max pool) -> `fused_conv2d_add_act`, taken only where none of them has a gradient op.

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
from minigraph.ops.fused import pool_2x2_attrs
from minigraph.passes.rewrite import readers, remove_unused_vars, replace_op, rewrite_each

__all__ = ["fuse_bn_act", "fuse_conv_epilogue", "fuse_elewise_add_act"]

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
    return rewrite_each(program, lambda p: _next_pair(p, pattern, keep_set), lambda p, *f: _fuse(p, pattern, *f))


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


def fuse_conv_epilogue(program: Program, keep: Iterable[str] = ()) -> Program:
    """Fuse every conv2d + per-channel bias elementwise_add + relu (+ 2x2 stride-2 max pool2d)
    chain of `program` into one `fused_conv2d_add_act`, in place; returns `program`.

    Preserves what the other fusions preserve (see the module docstring): the values of the
    variables left and of `keep` exactly, and `Program.verify()`. Each intermediate (the conv
    output, the sum, the relu output when the pool is taken in) must be private: read by the
    next op alone and not in `keep`. A training program's chains are never taken: the
    gradient ops read those intermediates, so they are not private."""
    keep_set = set(keep)
    return rewrite_each(program, lambda p: _next_conv_chain(p, keep_set), _fuse_conv_chain)


def _is_pool_2x2(op: Operator, data_format: str) -> bool:
    want = pool_2x2_attrs(data_format)
    return op.type == "pool2d" and all(op.attrs.get(k) == v for k, v in want.items() if k != "padding_algorithm")


def _next_conv_chain(program: Program, keep: set[str]) -> tuple[Operator, Operator, Operator, Operator | None] | None:
    block = program.global_block()
    ops = list(block.ops)
    count = readers(program)

    def next_op(name: str) -> Operator | None:
        v = block._find_var_recursive(name)
        if v is None or v.persistable or count.get(name, 0) != 1 or name in keep:
            return None
        return _only_reader(ops, name)

    for conv in ops:
        if conv.type != "conv2d":
            continue
        (h,) = conv.output("Output")
        fmt = conv.attrs["data_format"]
        add = next_op(h)
        if add is None or add.type != "elementwise_add" or add.input("X") != [h]:
            continue
        (b,), (s,) = add.input("Y"), add.output("Out")
        bias = block._find_var_recursive(b)
        axes = (1,) if fmt == "NCHW" else (-1, 3)
        if bias is None or len(bias.shape) != 1 or add.attrs["axis"] not in axes or s in (h, b):
            continue
        act = next_op(s)
        if act is None or act.type not in _ACTS or act.input("X") != [s] or act.output("Out") == [s]:
            continue
        (z,) = act.output("Out")
        pool = next_op(z)
        if pool is not None and not (_is_pool_2x2(pool, fmt) and pool.input("X") == [z]):
            pool = None
        return conv, add, act, pool
    return None


def _fuse_conv_chain(program: Program, conv: Operator, add: Operator, act: Operator, pool: Operator | None) -> None:
    block = program.global_block()
    last = pool if pool is not None else act
    attrs = {**conv.attrs, "axis": add.attrs["axis"], "act_type": act.type, "pool_2x2": pool is not None}
    inputs = {**conv.inputs, "Bias": add.input("Y")}
    outputs = {"Output": last.output("Out")}
    replace_op(block, conv, "fused_conv2d_add_act", inputs, outputs, attrs)
    dead = [*conv.output("Output"), *add.output("Out")] + (act.output("Out") if pool is not None else [])
    for op in (add, act, pool):
        if op is not None:
            block._remove_op(block.ops.index(op))
    remove_unused_vars(program, dead)
