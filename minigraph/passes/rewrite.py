"""Small editing helpers the passes share: who reads what, fresh names, replacing an op."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from minigraph.ir.block import Block
from minigraph.ir.operator import Operator
from minigraph.ir.program import Program


def readers(program: Program) -> dict[str, int]:
    """How many ops (in any block) read each variable."""
    counts: dict[str, int] = {}
    for block in program.blocks:
        for op in block.ops:
            for n in op.input_arg_names:
                counts[n] = counts.get(n, 0) + 1
    return counts


def fresh(block: Block, name: str) -> str:
    """`name`, or `name_k` with the first k that no variable of the block uses."""
    n, k = name, 0
    while block._find_var_recursive(n) is not None:
        k += 1
        n = f"{name}_{k}"
    return n


def replace_op(
    block: Block,
    old: Operator,
    type: str,
    inputs: Mapping[str, Sequence[str]],
    outputs: Mapping[str, Sequence[str]],
    attrs: dict[str, Any],
) -> Operator:
    """Put a new op (checked and shape-inferred like any appended op) where `old` is; it
    keeps `old`'s role, call site and name scope, so errors still point at the user's code."""
    at = block.ops.index(old)
    made = block._make_op(type, dict(inputs), dict(outputs), attrs, old.role)
    new = Operator(block, type, made.inputs, made.outputs, made.attrs, old.role, old.callsite, old.namescope)
    block._remove_op(at)
    block._add_op(new, at)
    return new


def remove_unused_vars(program: Program, names: Sequence[str]) -> None:
    """Drop the records of `names` that no op uses any more (data variables stay)."""
    block = program.global_block()
    used = {n for b in program.blocks for op in b.ops for n in op.input_arg_names + op.output_arg_names}
    for name in names:
        v = block.vars.get(name)
        if v is not None and name not in used and not v.is_data:
            block._remove_var(name)


def rewrite_each(program: Program, find: Callable[[Program], Any], rewrite: Callable[..., None]) -> Program:
    """rewrite(program, *found) for each `found = find(program)` until find returns None
    (each rewrite changes the program, so the next search starts afresh); returns it."""
    while (found := find(program)) is not None:
        rewrite(program, *found)
    return program
