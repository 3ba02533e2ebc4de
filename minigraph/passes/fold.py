"""Inference pass: fold test-mode batch_norm into the linear op before it.

Preserves: the values of every variable still in the program (fetch targets listed in
`keep` included) to float rounding, the feeds, and the scope values of existing variables;
the result passes `Program.verify()`. The input program is not modified.

In running-statistics mode batch_norm is an affine map per channel,
`y = (t - mean) * k + beta` with `k = scale / sqrt(variance + epsilon)`. When `t` comes from
a linear op (conv2d, or fc's `mul`/`matmul`), optionally plus a bias add, the map folds into
that op's weights: `W'[o] = W[o] * k[o]` and `b' = (b - mean) * k + beta`. The batch_norm op
disappears, and the program computes the same values with one pass less over the
activations (to float rounding: about 1e-6 relative in float32).

A batch_norm is folded only when all of this holds, and is left alone otherwise:
- it normalises with the running statistics (`is_test` without `trainable_statistics`, or
  `use_global_stats`), is not in-place, and nothing reads its SavedMean/SavedVariance;
- its input comes from conv2d (Filter), mul (Y, 2-D, y_num_col_dims=1) or matmul (Y, 2-D),
  directly or through an elementwise_add of a 1-D persistable bias, and no other op reads
  those intermediate values (nor are they in `keep`, e.g. fetch targets);
- the linear op's output channels lie on batch_norm's channel axis (NCHW conv with NCHW
  batch_norm, NHWC with NHWC; fc/matmul features on the last axis);
- every weight and statistic involved has a value in the scope.

The folded weights are new persistable variables, named after the batch_norm's output
(`<Y>.fold_w`, `<Y>.fold_b`), with their values written to the scope; the original weights
stay in the scope untouched (and leave the program if nothing else uses them).

`fold_batch_norm_ops(program, keep)` is the executor's variant (BuildStrategy
fold_batch_norm): the same rewrite, but `<Y>.fold_w` and `<Y>.fold_b` are temporaries that
small ops compute on every run from the current weights and statistics (a few per-channel
vectors and one pass over the filter), so a parameter changed between runs (training,
ModelAverage.apply, a loaded checkpoint) is honoured without recompiling, and the scope is
never written. It needs no values, only that the weights and statistics are persistable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigraph.ir.block import Block
from minigraph.ir.operator import Operator
from minigraph.ir.program import Program
from minigraph.ops.common import align_shape
from minigraph.ops.layout import channel_axis
from minigraph.ops.norm import running_affine, uses_batch_stats
from minigraph.passes.rewrite import fresh, readers, remove_unused_vars

__all__ = ["fold_batch_norm", "fold_batch_norm_ops"]

_WEIGHT_SLOT = {"conv2d": "Filter", "mul": "Y", "matmul": "Y"}
_INPUT_SLOT = {"conv2d": "Input", "mul": "X", "matmul": "X"}


@dataclass
class _Match:
    bn: Operator
    linear: Operator
    add: Operator | None  # the bias add between them, if any
    out_axis: int  # the axis of the linear op's output holding its output channels
    weight_axis: int  # the axis of its weight indexed by output channel


def fold_batch_norm(program: Program, scope: Any, keep: Iterable[str] = ()) -> Program:
    """A copy of `program` with every foldable running-statistics batch_norm folded into the
    conv2d / fc before it (see the module docstring for the rules). New weight values go to
    `scope`; `program` and the existing scope values are not modified. `keep` names
    variables whose values must stay observable (fetch targets): nothing producing them is
    rewritten.

        infer = fold_batch_norm(test_program, mg.global_scope(), keep=[logits.name])
        exe.run(infer, feed={"x": x}, fetch_list=[logits])
    """
    new = program.clone()
    keep_set = set(keep)
    while True:
        match = _next_match(new, lambda n: _has_value(scope, n), keep_set)
        if match is None:
            return new
        fw, fb = _folded_values(new, scope, match)
        _rewire(new, match, fw, fb)


def fold_batch_norm_ops(program: Program, keep: Iterable[str] = ()) -> Program:
    """Fold every foldable running-statistics batch_norm of `program` in place, computing
    the folded weight and bias with ops that run every time (see the module docstring).
    Preserves the values of every remaining variable and of those in `keep` (fetch targets
    and feeds) to float rounding; returns `program`, which still passes verify()."""
    keep_set = set(keep)
    while True:
        match = _next_match(program, lambda n: True, keep_set)
        if match is None:
            return program
        fw, fb = _folding_ops(program, match)
        _rewire(program, match, fw, fb)


# --- finding a foldable pattern ----------------------------------------------------------


def _has_value(scope: Any, name: str) -> bool:
    v = scope.find_var(name)
    return v is not None and v.is_initialized()


def _next_match(program: Program, has_value: Callable[[str], bool], keep: set[str]) -> _Match | None:
    block = program.global_block()
    read_count = readers(program)
    writer = {n: op for op in block.ops for n in op.output_arg_names}

    def private(name: str) -> bool:
        """A temporary read by exactly one op and not to be kept."""
        v = block._find_var_recursive(name)
        return v is not None and not v.persistable and read_count.get(name, 0) == 1 and name not in keep

    for bn in block.ops:
        if bn.type != "batch_norm" or uses_batch_stats(bn.attrs):
            continue
        (x,), (y,) = bn.input("X"), bn.output("Y")
        if x == y or not private(x):
            continue
        if any(read_count.get(n, 0) or n in keep for s in ("SavedMean", "SavedVariance") for n in bn.output(s)):
            continue
        stats = [bn.input(s)[0] for s in ("Scale", "Bias", "Mean", "Variance")]
        if not all(block.var(n).persistable and has_value(n) for n in stats):
            continue
        rank = len(block.var(x).shape)
        bn_axis = channel_axis(bn.attr("data_layout"), rank)
        add = None
        src = writer.get(x)
        if src is not None and src.type == "elementwise_add":
            add, (t,) = src, src.input("X")
            if not private(t) or not _is_channel_bias(block, add, rank, bn_axis, has_value):
                continue
            src = writer.get(t)
        if src is None or src.type not in _WEIGHT_SLOT:
            continue
        axes = _channel_axes(block, src, rank)
        if axes is None or axes[0] != bn_axis:
            continue
        w = src.input(_WEIGHT_SLOT[src.type])[0]
        if not block.var(w).persistable or not has_value(w):
            continue
        return _Match(bn, src, add, axes[0], axes[1])
    return None


def _channel_axes(block: Block, op: Operator, rank: int) -> tuple[int, int] | None:
    """(output axis of the channels, weight axis of the channels) for a foldable linear op."""
    w = block.var(op.input(_WEIGHT_SLOT[op.type])[0])
    x = block.var(op.input(_INPUT_SLOT[op.type])[0])
    if x.persistable:
        return None
    if op.type == "conv2d":
        return (1 if op.attr("data_format") == "NCHW" else 3), 0
    if len(w.shape) != 2:
        return None
    if op.type == "mul":
        return (rank - 1, 1) if op.attr("y_num_col_dims") == 1 else None
    return rank - 1, (0 if op.attr("transpose_Y") else 1)  # matmul


def _is_channel_bias(block: Block, add: Operator, rank: int, axis: int, has_value: Callable[[str], bool]) -> bool:
    """elementwise_add(X=t, Y=b) with b a 1-D persistable lined up with channel axis `axis`."""
    (b,) = add.input("Y")
    v = block.var(b)
    if not v.persistable or len(v.shape) != 1 or not has_value(b):
        return False
    aligned = align_shape(tuple(v.shape), rank, add.attr("axis"))
    aligned = (1,) * (rank - len(aligned)) + tuple(aligned)
    return [i for i, d in enumerate(aligned) if d != 1] in ([axis], [])  # [] only if C == 1


# --- rewriting ------------------------------------------------------------------------------


def _value(scope: Any, name: str) -> np.ndarray:
    return np.asarray(scope.find_var(name).get_tensor())


def _folded_values(program: Program, scope: Any, m: _Match) -> tuple[str, str]:
    """New persistables holding the folded weight and bias, their values in `scope`."""
    block = program.global_block()
    (y,) = m.bn.output("Y")
    w_name = m.linear.input(_WEIGHT_SLOT[m.linear.type])[0]
    w = _value(scope, w_name)
    stats = (_value(scope, m.bn.input(s)[0]) for s in ("Scale", "Bias", "Mean", "Variance"))
    gain, shift = running_affine(m.bn.attrs, *stats, dtype=w.dtype)
    shape = [1] * w.ndim
    shape[m.weight_axis] = -1
    new_w = (w.astype(np.float64) * gain.reshape(shape)).astype(w.dtype)
    b = 0.0 if m.add is None else _value(scope, m.add.input("Y")[0]).astype(np.float64)
    new_b = (b * gain + shift).astype(w.dtype)

    fw = fresh(block, f"{y}.fold_w")
    block.create_var(fw, shape=block.var(w_name).shape, dtype=block.var(w_name).dtype, persistable=True)
    fb = fresh(block, f"{y}.fold_b")
    block.create_var(fb, shape=(new_b.shape[0],), dtype=block.var(w_name).dtype, persistable=True)
    scope.var(fw).set(new_w)
    scope.var(fb).set(new_b)
    return fw, fb


def _folding_ops(program: Program, m: _Match) -> tuple[str, str]:
    """Ops, inserted before the linear op, computing the folded weight and bias from the
    current values: gain = Scale / sqrt(Variance + eps), W' = W * gain on the weight's
    output-channel axis, b' = b * gain + (Bias - Mean * gain)."""
    block = program.global_block()
    bn, at = m.bn, block.ops.index(m.linear)
    (y,) = bn.output("Y")
    scale, bias, mean, variance = (bn.input(s)[0] for s in ("Scale", "Bias", "Mean", "Variance"))
    w_name = m.linear.input(_WEIGHT_SLOT[m.linear.type])[0]

    def emit(type: str, x: str, y_: str | None, tag: str, **attrs: Any) -> str:
        nonlocal at
        out = fresh(block, f"{y}.fold_{tag}")
        inputs = {"X": x} if y_ is None else {"X": x, "Y": y_}
        block._insert_op(at, type, inputs, {"Out": out}, attrs, m.linear.role)
        at += 1
        return out

    std = emit("sqrt", emit("scale", variance, None, "var_eps", bias=float(bn.attr("epsilon"))), None, "std")
    gain = emit("elementwise_div", scale, std, "gain")
    fw = emit("elementwise_mul", w_name, gain, "w", axis=m.weight_axis)
    fb = emit("elementwise_sub", bias, emit("elementwise_mul", mean, gain, "mean_gain"), "shift")
    if m.add is not None:
        fb = emit("elementwise_add", emit("elementwise_mul", m.add.input("Y")[0], gain, "b_gain"), fb, "b")
    return fw, fb


def _rewire(program: Program, m: _Match, fw: str, fb: str) -> None:
    """Point the linear op at the folded weight and add the folded bias in batch_norm's place."""
    block = program.global_block()
    bn, lin = m.bn, m.linear
    (y,) = bn.output("Y")
    w_name = lin.input(_WEIGHT_SLOT[lin.type])[0]
    lin._rename_input(w_name, fw)
    dead = [w_name, *(bn.input(s)[0] for s in ("Scale", "Bias", "Mean", "Variance"))]
    dead += [n for s in ("SavedMean", "SavedVariance") for n in bn.output(s)]
    at = block.ops.index(bn)
    if m.add is not None:
        (b_name,), (x,) = m.add.input("Y"), m.add.output("Out")
        dead += [b_name, x]
        m.add._rename_input(b_name, fb)
        m.add._rename_output(x, y)
        block._remove_op(at)
    else:
        (t,) = lin.output(next(iter(lin.outputs)))
        block._remove_op(at)
        axis = m.out_axis if lin.type == "conv2d" else -1
        block._insert_op(at, "elementwise_add", {"X": t, "Y": fb}, {"Out": y}, {"axis": axis}, bn.role)
    remove_unused_vars(program, dead)
