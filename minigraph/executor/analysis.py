"""What a Plan needs to know about a block before lowering it: variable slots, where
values come from (feeds, the scope, an op) and where they die.

`analyse(block, feed_names, fetch_names)` walks the ops once, in order:
- numbers every variable the run touches (a slot in the flat environment list);
- checks every first read: a variable read (or fetched) before any op writes it must be
  fed or persistable, else FeedError before any op runs; persistables read that way are
  loaded from the scope (`persist_in`), persistables fed or written are stored back
  (`persist_out`);
- finds each variable's last use, so a temporary can be dropped right after it (small ones
  just cleared, possibly large ones handed to the buffer pool); reads of an op's
  `shape_only_inputs` do not count as uses of the value: a temporary whose only later
  readers want its shape dies at its last real use and leaves a stand-in (`shape_after`);
- records, for ops with optional outputs, which output slots are wired.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from minigraph.errors import FeedError, FetchError
from minigraph.ir.block import Block
from minigraph.ir.operator import Operator
from minigraph.ir.variable import Variable
from minigraph.ops import buffers
from minigraph.registry import get_op


@dataclass(frozen=True)
class Analysis:
    index: dict[str, int]  # variable -> its slot in the environment list
    persist_in: list[tuple[str, int]]  # persistables read before any op writes them (from the scope)
    persist_out: list[tuple[str, int]]  # persistables fed or written (stored back after the run)
    fetch_idx: list[int]  # the slots of the fetch targets, in fetch order
    free_after: list[tuple[int, ...]]  # per op: small temporaries dead after it
    drop_after: list[tuple[int, ...]]  # per op: possibly large temporaries dead after it
    shape_after: list[tuple[int, ...]]  # per op: temporaries dead after it but for their shape
    wired: list[tuple[bool, ...] | None]  # per op with optional outputs: which output slots are wired


def check_names(block: Block, feed_names: Iterable[str], fetch_names: Iterable[str]) -> None:
    """FeedError / FetchError (with a did-you-mean hint) for a name the program lacks."""
    for name in feed_names:
        if not block.has_var(name):
            raise FeedError(f"feed {name!r} is not a variable of the program being run{_hint(name, block)}")
    for name in fetch_names:
        if block._find_var_recursive(name) is None:
            raise FetchError(
                f"cannot fetch {name!r}: it is not a variable of the program being run{_hint(name, block)}"
            )


def analyse(block: Block, feed_names: Sequence[str], fetch_names: Sequence[str]) -> Analysis:
    check_names(block, feed_names, fetch_names)
    index: dict[str, int] = {}

    def slot(name: str) -> int:
        if name not in index:
            index[name] = len(index)
        return index[name]

    feeds = set(feed_names)
    for name in feed_names:
        slot(name)
    written = set(feeds)
    persist_in: list[tuple[str, int]] = []
    persist_out = {n: index[n] for n in feed_names if block.var(n).persistable}
    last_use: dict[str, int] = {}
    last_shape_use: dict[str, int] = {}

    def first_read(name: str, reader: str) -> None:
        _check_first_read(block.var(name), feeds, reader)
        written.add(name)
        if block.var(name).persistable:
            persist_in.append((name, slot(name)))

    wired: list[tuple[bool, ...] | None] = []
    for k, op in enumerate(block.ops):
        opdef = get_op(op.type)
        for slot_name, names in op.inputs.items():
            uses = last_shape_use if slot_name in opdef.shape_only_inputs else last_use
            for n in names:
                if n not in written:
                    first_read(n, f"op {op.type} (#{k}) reads it")
                slot(n)
                uses[n] = k
        for names in op.outputs.values():
            for n in names:
                slot(n)
                written.add(n)
                last_use[n] = k
                if block.var(n).persistable:
                    persist_out[n] = index[n]
        wired.append(_wired(op) if opdef.optional_outputs else None)
    for name in fetch_names:
        if name not in written:
            first_read(name, "it is fetched")
    fetch_idx = [index[n] for n in fetch_names]

    keep = set(persist_out) | set(fetch_names)
    free_after: list[list[int]] = [[] for _ in block.ops]
    drop_after: list[list[int]] = [[] for _ in block.ops]
    shape_after: list[list[int]] = [[] for _ in block.ops]
    for name, k in last_use.items():
        v = block.var(name)
        if name in keep or v.persistable:
            continue
        if last_shape_use.get(name, -1) > k:
            shape_after[k].append(index[name])
        else:
            (drop_after if _may_be_big(v) else free_after)[k].append(index[name])
    return Analysis(
        index,
        persist_in,
        list(persist_out.items()),
        fetch_idx,
        [tuple(f) for f in free_after],
        [tuple(d) for d in drop_after],
        [tuple(d) for d in shape_after],
        wired,
    )


def _wired(op: Operator) -> tuple[bool, ...]:
    return tuple(bool(op.outputs.get(s.name)) for s in get_op(op.type).out_slots)


def _check_first_read(v: Variable, feeds: set[str], reader: str) -> None:
    """A variable read before any op writes it must be persistable (from the scope) or fed."""
    if v.persistable or v.name in feeds:
        return
    if v.is_data:
        raise FeedError(f"variable {v.name!r} is not fed, but {reader}; pass feed={{{v.name!r}: array}}")
    raise FeedError(
        f"variable {v.name!r} has no value: nothing writes it before {reader}, and it is neither fed nor persistable"
    )


def _hint(name: str, block: Block) -> str:
    close = difflib.get_close_matches(name, list(block.vars), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _may_be_big(v: Variable) -> bool:
    """Whether a variable's value may be large enough for the buffer pool (unknown dims count
    as large)."""
    if any(d < 0 for d in v.shape):
        return True
    try:
        itemsize = np.dtype(v.dtype).itemsize
    except TypeError:
        return False
    return int(np.prod(v.shape, dtype=np.int64)) * itemsize >= buffers.MIN_BYTES
