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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigraph.ir.block import Block
from minigraph.ir.operator import Operator
from minigraph.ir.program import Program
from minigraph.ops.common import align_shape
from minigraph.ops.layout import channel_axis
from minigraph.ops.norm import running_affine, uses_batch_stats

__all__ = ["fold_batch_norm"]

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
        match = _next_match(new, scope, keep_set)
        if match is None:
            return new
        _fold(new, scope, match)


# --- finding a foldable pattern ----------------------------------------------------------


def _readers(program: Program) -> dict[str, int]:
    counts: dict[str, int] = {}
    for block in program.blocks:
        for op in block.ops:
            for n in op.input_arg_names:
                counts[n] = counts.get(n, 0) + 1
    return counts


def _has_value(scope: Any, name: str) -> bool:
    v = scope.find_var(name)
    return v is not None and v.is_initialized()


def _next_match(program: Program, scope: Any, keep: set[str]) -> _Match | None:
    block = program.global_block()
    readers = _readers(program)
    writer = {n: op for op in block.ops for n in op.output_arg_names}

    def private(name: str) -> bool:
        """A temporary read by exactly one op and not to be kept."""
        v = block._find_var_recursive(name)
        return v is not None and not v.persistable and readers.get(name, 0) == 1 and name not in keep

    for bn in block.ops:
        if bn.type != "batch_norm" or uses_batch_stats(bn.attrs):
            continue
        (x,), (y,) = bn.input("X"), bn.output("Y")
        if x == y or not private(x):
            continue
        if any(readers.get(n, 0) or n in keep for s in ("SavedMean", "SavedVariance") for n in bn.output(s)):
            continue
        stats = [bn.input(s)[0] for s in ("Scale", "Bias", "Mean", "Variance")]
        if not all(_has_value(scope, n) for n in stats):
            continue
        rank = len(block.var(x).shape)
        bn_axis = channel_axis(bn.attr("data_layout"), rank)
        add = None
        src = writer.get(x)
        if src is not None and src.type == "elementwise_add":
            add, (t,) = src, src.input("X")
            if not private(t) or not _is_channel_bias(block, add, rank, bn_axis, scope):
                continue
            src = writer.get(t)
        if src is None or src.type not in _WEIGHT_SLOT:
            continue
        axes = _channel_axes(block, src, rank)
        if axes is None or axes[0] != bn_axis:
            continue
        w = src.input(_WEIGHT_SLOT[src.type])[0]
        if not block.var(w).persistable or not _has_value(scope, w):
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


def _is_channel_bias(block: Block, add: Operator, rank: int, axis: int, scope: Any) -> bool:
    """elementwise_add(X=t, Y=b) with b a 1-D persistable lined up with channel axis `axis`."""
    (b,) = add.input("Y")
    v = block.var(b)
    if not v.persistable or len(v.shape) != 1 or not _has_value(scope, b):
        return False
    aligned = align_shape(tuple(v.shape), rank, add.attr("axis"))
    aligned = (1,) * (rank - len(aligned)) + tuple(aligned)
    return [i for i, d in enumerate(aligned) if d != 1] in ([axis], [])  # [] only if C == 1


# --- rewriting ------------------------------------------------------------------------------


def _value(scope: Any, name: str) -> np.ndarray:
    return np.asarray(scope.find_var(name).get_tensor())


def _fresh(block: Block, name: str) -> str:
    n, k = name, 0
    while block._find_var_recursive(n) is not None:
        k += 1
        n = f"{name}_{k}"
    return n


def _fold(program: Program, scope: Any, m: _Match) -> None:
    block = program.global_block()
    bn, lin = m.bn, m.linear
    (y,) = bn.output("Y")
    w_name = lin.input(_WEIGHT_SLOT[lin.type])[0]
    w = _value(scope, w_name)
    stats = (_value(scope, bn.input(s)[0]) for s in ("Scale", "Bias", "Mean", "Variance"))
    gain, shift = running_affine(bn.attrs, *stats, dtype=w.dtype)
    shape = [1] * w.ndim
    shape[m.weight_axis] = -1
    new_w = (w.astype(np.float64) * gain.reshape(shape)).astype(w.dtype)
    b = 0.0 if m.add is None else _value(scope, m.add.input("Y")[0]).astype(np.float64)
    new_b = (b * gain + shift).astype(w.dtype)

    fw = _fresh(block, f"{y}.fold_w")
    block.create_var(fw, shape=block.var(w_name).shape, dtype=block.var(w_name).dtype, persistable=True)
    fb = _fresh(block, f"{y}.fold_b")
    block.create_var(fb, shape=(new_b.shape[0],), dtype=block.var(w_name).dtype, persistable=True)
    scope.var(fw).set(new_w)
    scope.var(fb).set(new_b)

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
        block._insert_op(at, "elementwise_add", {"X": t, "Y": fb}, {"Out": y}, {"axis": axis})
    used = {n for b2 in program.blocks for op in b2.ops for n in op.input_arg_names + op.output_arg_names}
    for name in dead:
        v = block.vars.get(name)
        if v is not None and name not in used and not v.is_data:
            block._remove_var(name)
