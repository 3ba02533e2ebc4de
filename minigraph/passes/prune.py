"""Pruning a program to the ops that compute some targets from some feeds.

Preserves: the values of the targets given the same feeds and scope (the kept ops run in
their original order with their original attrs); the result passes
`Program.verify(feed_names=feeds)`. The input program is not modified.

A backward walk over the global block's ops with a live set (the variables whose value is
still needed): an op is kept when it writes a live variable; its outputs then leave the
set and its inputs join it. That handles in-place ops correctly (a relu whose input and
output are the same variable keeps the op that produced that variable, and an in-place
batch_norm over a fed variable stays).

Fed variables are cut points: an op whose only live outputs are fed variables, and which
does not read them, is dropped because the feed supplies that value; so an intermediate
variable can be fed to export part of a network.

What is live at the end must come from outside: a feed or a persistable (from the scope).
Anything else (a data variable not in the feed list, a temporary nothing writes) is an
error naming the variable and a target that needs it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from minigraph.errors import FeedError, FetchError
from minigraph.ir.operator import Operator
from minigraph.ir.program import Program


class PruneResult:
    """The pruned program and the persistables it reads before writing them (from the scope)."""

    def __init__(self, program: Program, external_persistables: list[str]) -> None:
        self.program = program
        self.external_persistables = external_persistables


def prune(program: Program, feed_names: Sequence[str], target_names: Sequence[str]) -> PruneResult:
    """A copy of `program` holding only the ops (and variables) needed to compute
    `target_names` from `feed_names` and the persistables. `program` is not modified.

    Raises FeedError for an unknown feed, a feed the targets do not use, or a data
    variable the targets need that is not fed; FetchError for an unknown target.
    """
    if program.num_blocks > 1:
        raise NotImplementedError("pruning a program with sub-blocks (control flow) is not supported yet")
    block = program.global_block()
    feeds = list(dict.fromkeys(feed_names))
    targets = list(dict.fromkeys(target_names))
    for name in feeds:
        if not block.has_var(name):
            raise FeedError(f"feed variable {name!r} is not a variable of the program{_hint(name, block.vars)}")
    for name in targets:
        if not block.has_var(name):
            raise FetchError(f"target variable {name!r} is not a variable of the program{_hint(name, block.vars)}")

    feed_set = set(feeds)
    live = set(targets)
    needed_by: dict[str, str] = {t: t for t in targets}  # variable -> a target that needs it
    kept: list[Operator] = []
    for op in reversed(block.ops):
        outs = [n for n in op.output_arg_names if n in live]
        if not outs:
            continue
        ins = op.input_arg_names
        if all(n in feed_set for n in outs) and not any(n in ins for n in outs):
            continue  # the feed supplies these values: cut here
        target = needed_by[outs[0]]
        live.difference_update(op.output_arg_names)
        for n in ins:
            live.add(n)
            needed_by.setdefault(n, target)
        kept.append(op)
    kept.reverse()

    external: list[str] = []
    for name in sorted(live):
        v = block.var(name)
        if name in feed_set:
            continue
        if v.persistable:
            external.append(name)
        elif v.is_data:
            raise FeedError(
                f"target {needed_by[name]!r} needs data variable {name!r}, which is not in the feed list {feeds}; "
                f"add it to the feeds or choose targets that do not depend on it"
            )
        else:
            raise FeedError(
                f"target {needed_by[name]!r} needs variable {name!r}, but no op computes it and it is neither "
                f"fed nor persistable"
            )
    unused = [n for n in feeds if n not in live]
    if unused:
        raise FeedError(
            f"feed variable(s) {unused} are not involved in computing the targets {targets}; "
            f"remove them from the feed list"
        )
    return PruneResult(_copy_with_ops(program, kept, feeds + targets), external)


def _copy_with_ops(program: Program, ops: list[Operator], extra_vars: list[str]) -> Program:
    """A clone of `program` whose global block holds only `ops` and the variables they use."""
    keep_ids = {id(op) for op in ops}
    positions = [i for i, op in enumerate(program.global_block().ops) if id(op) in keep_ids]
    new = program.clone()
    block = new.global_block()
    keep = set(positions)
    for i in reversed(range(len(block.ops))):
        if i not in keep:
            block._remove_op(i)
    used = {n for op in block.ops for n in op.input_arg_names + op.output_arg_names} | set(extra_vars)
    for name in [n for n in block.vars if n not in used]:
        block._remove_var(name)
    return new


def _hint(name: str, known: Sequence[str] | dict[str, object]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
