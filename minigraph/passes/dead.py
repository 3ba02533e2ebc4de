"""Dead-output pruning: what nothing reads is not computed.

Preserves: the values of the variables in `keep` (fetch targets, feeds) and of every
persistable the program writes, the order and attrs of the ops that stay, and
`Program.verify()`.

Walking the ops backwards with the set of names still needed (`keep`, anything persistable
and, for an op kept, its inputs):
- an op none of whose outputs is needed is dropped, unless it talks to other processes
  (collectives must run on every rank in the same order) or has no outputs at all;
- a kept op's outputs in optional slots (registry `optional_outputs`: batch_norm's
  SavedMean/SavedVariance in a test program, reshape2's XShape, gradients nobody reads) are
  unwired, so its kernel can skip them (attrs[WIRED]).

Run `pin_random_seeds` first when the program has a random_seed: dropping an op shifts
the positions from which the executor derives per-op seeds.
"""

from __future__ import annotations

from collections.abc import Iterable

from minigraph.ir.program import Program
from minigraph.passes.rewrite import remove_unused_vars, replace_op
from minigraph.registry import get_op, op_seed

__all__ = ["pin_random_seeds", "prune_dead_outputs"]


def _talks(op_type: str) -> bool:
    return op_type.startswith("c_") or op_type.startswith("sync_")


def prune_dead_outputs(program: Program, keep: Iterable[str] = ()) -> Program:
    """Drop ops whose outputs nothing needs and unwire unread optional outputs, in place;
    returns `program`."""
    block = program.global_block()
    needed = set(keep) | {n for b in program.blocks[1:] for op in b.ops for n in op.input_arg_names}
    dropped: list[str] = []
    for op in reversed(list(block.ops)):
        outs = op.output_arg_names
        live = [n for n in outs if n in needed or block.var(n).persistable]
        if outs and not live and not _talks(op.type):
            block._remove_op(block.ops.index(op))
            dropped += outs
            continue
        optional = get_op(op.type).optional_outputs
        unread = {s: names for s, names in op.outputs.items() if s in optional and not set(names) & set(live)}
        if unread:
            outputs = {s: names for s, names in op.outputs.items() if s not in unread}
            op = replace_op(block, op, op.type, op.inputs, outputs, dict(op.attrs))
            dropped += [n for names in unread.values() for n in names]
        needed.update(op.input_arg_names)
    remove_unused_vars(program, dropped)
    return program


def pin_random_seeds(program: Program) -> Program:
    """Give every op with a `seed` attr of 0 the seed the executor would derive from its
    position (Program.random_seed), so later passes may move ops; in place."""
    if not program.random_seed:
        return program
    for k, op in enumerate(program.global_block().ops):
        if op.attrs.get("seed") == 0:
            op._set_attr("seed", op_seed(program.random_seed, k + 1))
    return program
