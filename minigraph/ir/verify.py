"""Program.verify(): the invariants every program (and every pass's output) must keep.

For each op of each block, in order:
- its type, slots and attrs match its registry entry (`minigraph.registry.get_op`): known
  slots only, required slots wired, one name per non-variadic slot, exactly the attrs the
  op defines, each of the right type;
- every variable it reads exists and is defined before the read: data (fed), persistable
  (its value lives in the scope, so a main program may read a parameter that only the
  startup program writes), named in `feed_names`, written by an earlier op of the block,
  or a variable of a parent block;
- its recorded output shapes and dtypes agree with shape inference re-run on its recorded
  inputs (-1 dims are wildcards on either side).

Problems are collected, not raised one by one, so one GraphBuildError lists them all with
the op index, op type and variable names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from minigraph.errors import GraphBuildError, OpTypeError
from minigraph.ir.block import Block
from minigraph.ir.operator import Operator
from minigraph.registry import OpDef, Slot, check_attr, get_op
from minigraph.types import shape_text

if TYPE_CHECKING:
    from minigraph.ir.program import Program


def verify_program(program: Program, feed_names: Iterable[str] = ()) -> None:
    """Raise GraphBuildError listing every broken invariant of `program`; None if it holds."""
    problems: list[str] = []
    feeds = set(feed_names)
    for block in program.blocks:
        where = "" if block.idx == 0 else f"block {block.idx} "
        defined = {n for n, v in block.vars.items() if v.is_data or v.persistable} | feeds
        for i, op in enumerate(block.ops):
            for problem in _op_problems(block, op, defined):
                problems.append(f"{where}op #{i} ({op.type}): {problem}")
            defined.update(op.output_arg_names)
    if problems:
        listing = "\n  ".join(problems)
        raise GraphBuildError(f"program verification found {len(problems)} problem(s):\n  {listing}")


def _op_problems(block: Block, op: Operator, defined: set[str]) -> list[str]:
    try:
        opdef = get_op(op.type)
    except GraphBuildError as e:
        return [str(e)]
    problems = _slot_problems(opdef, op.inputs, opdef.in_slots, "input", ())
    problems += _slot_problems(opdef, op.outputs, opdef.out_slots, "output", opdef.optional_outputs)
    problems += _attr_problems(opdef, op)
    missing = [n for n in op.input_arg_names + op.output_arg_names if block._find_var_recursive(n) is None]
    problems += [f"{n!r} is not a variable of the program" for n in dict.fromkeys(missing)]
    for slot, names in op.inputs.items():
        for n in names:
            if n not in defined and n not in missing and not _from_parent(block, n):
                problems.append(
                    f"input {slot}={n!r} is read before any op writes it, and it is neither data (fed) nor persistable"
                )
    if not problems:  # inference needs well-formed slots and attrs
        problems += _shape_problems(block, opdef, op)
    return problems


def _slot_problems(
    opdef: OpDef, given: Any, slots: tuple[Slot, ...], kind: str, optional: tuple[str, ...]
) -> list[str]:
    known = {s.name for s in slots}
    problems = [f"unknown {kind} slot {s!r}; the op has {sorted(known)}" for s in given if s not in known]
    for slot in slots:
        names = given.get(slot.name, ())
        if not names and not (slot.optional or slot.variadic or slot.name in optional):
            problems.append(f"required {kind} slot {slot.name!r} is not wired")
        if len(names) > 1 and not slot.variadic:
            problems.append(f"{kind} slot {slot.name!r} takes one variable, got {list(names)}")
    return problems


def _attr_problems(opdef: OpDef, op: Operator) -> list[str]:
    problems = [f"unknown attribute {a!r}" for a in op.attrs if a not in opdef.attrs]
    for name in opdef.attrs:
        if name not in op.attrs:
            problems.append(f"attribute {name!r} is missing")
            continue
        try:
            check_attr(opdef, name, op.attrs[name])
        except (GraphBuildError, OpTypeError) as e:
            problems.append(str(e).removeprefix(f"op {op.type}: "))
    return problems


def _from_parent(block: Block, name: str) -> bool:
    """Whether `name` lives in an ancestor block (its value is there before a sub-block runs)."""
    return name not in block.vars and block._find_var_recursive(name) is not None


def _shape_problems(block: Block, opdef: OpDef, op: Operator) -> list[str]:
    try:
        metas = block._inferred(opdef, op.inputs, op.attrs)
    except (GraphBuildError, OpTypeError) as e:
        return [f"shape inference fails on the recorded inputs: {e}"]
    problems = []
    for slot in opdef.out_slots:
        names = op.outputs.get(slot.name, ())
        if not names or slot.name not in metas:
            continue
        pairs = metas[slot.name] if slot.variadic else [metas[slot.name]]
        for name, (shape, dtype) in zip(names, pairs):
            v = block.var(name)
            if not _shapes_agree(tuple(v.shape), tuple(shape)) or v.dtype != dtype:
                problems.append(
                    f"output {slot.name}={name!r} is recorded as {v.dtype}{shape_text(v.shape)}, "
                    f"but shape inference gives {dtype}{shape_text(tuple(shape))}"
                )
    return problems


def _shapes_agree(recorded: tuple[int, ...], inferred: tuple[int, ...]) -> bool:
    return len(recorded) == len(inferred) and all(a == b or a < 0 or b < 0 for a, b in zip(recorded, inferred))
