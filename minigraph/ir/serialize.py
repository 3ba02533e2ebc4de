"""Program <-> plain dict (JSON-able). Loading rebuilds every op through the registry, so a
malformed program is refused with an error naming the op, and missing attrs get defaults."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from minigraph.errors import GraphBuildError, MinigraphError, ModelFormatError, OpTypeError
from minigraph.ir.block import Block
from minigraph.ir.naming import NameGenerator
from minigraph.ir.variable import Parameter

if TYPE_CHECKING:
    from minigraph.ir.program import Program

FORMAT_VERSION = 1


def program_to_dict(program: Program) -> dict[str, Any]:
    blocks = []
    for b in program.blocks:
        vars_ = []
        for v in b.vars.values():
            d: dict[str, Any] = {
                "name": v.name,
                "shape": list(v.shape),
                "dtype": v.dtype,
                "persistable": v.persistable,
                "stop_gradient": v.stop_gradient,
                "is_data": v.is_data,
            }
            if isinstance(v, Parameter):
                d["parameter"] = {
                    "trainable": v.trainable,
                    "optimize_attr": dict(v.optimize_attr),
                    "regularizer": v.regularizer.to_dict() if v.regularizer is not None else None,
                    "do_model_average": v.do_model_average,
                    "need_clip": v.need_clip,
                }
            vars_.append(d)
        ops = [
            {
                "type": op.type,
                "inputs": {slot: list(names) for slot, names in op.inputs.items()},
                "outputs": {slot: list(names) for slot, names in op.outputs.items()},
                "attrs": copy.deepcopy(op.attrs),
                "role": op.role,
                "namescope": op.namescope,
            }
            for op in b.ops
        ]
        blocks.append({"idx": b.idx, "parent_idx": b.parent_idx, "vars": vars_, "ops": ops})
    return {
        "format": "minigraph.program",
        "version": FORMAT_VERSION,
        "random_seed": program.random_seed,
        "names": dict(program.names.counters),
        "blocks": blocks,
    }


def load_program_dict(program: Program, data: Any, source: str = "program") -> None:
    """Fill `program` (a new, empty one) from `program_to_dict` data; ModelFormatError
    naming `source` if the data is malformed."""
    if not isinstance(data, dict) or data.get("format") != "minigraph.program":
        raise ModelFormatError(f"{source}: not a minigraph program (missing format marker)")
    if data.get("version") != FORMAT_VERSION:
        raise ModelFormatError(f"{source}: unsupported format version {data.get('version')!r}")
    block_dicts = _block_tree(data, source)  # before any name is resolved through a parent
    try:
        program._random_seed = _int_field(data.get("random_seed", 0), "random_seed", source)
        names = data.get("names", {})
        if not isinstance(names, dict):
            raise ModelFormatError(f"{source}: field 'names' must map name prefixes to counters")
        program.names = NameGenerator({str(k): _int_field(v, f"names[{k!r}]", source, 0) for k, v in names.items()})
        program.blocks = []
        for bi, bd in enumerate(block_dicts):
            block = Block(program, bi, bd.get("parent_idx", -1))
            program.blocks.append(block)
            for i, vd in enumerate(_list(bd, "vars", source)):
                name = vd.get("name", "?") if isinstance(vd, dict) else "?"
                try:
                    _load_var(block, vd)
                except (KeyError, TypeError, ValueError, OverflowError) as e:  # ModelFormatError is a ValueError
                    raise ModelFormatError(f"{source}: block {bi} var #{i} ({name!r}): {_reason(e)}") from None
            for i, od in enumerate(_list(bd, "ops", source)):
                op_type = od.get("type", "?") if isinstance(od, dict) else "?"
                try:
                    _load_op(block, od)
                except (GraphBuildError, OpTypeError, KeyError, TypeError, ValueError, OverflowError) as e:
                    raise ModelFormatError(f"{source}: block {bi} op #{i} ({op_type}): {_reason(e)}") from None
    except ModelFormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, IndexError, RecursionError) as e:
        raise ModelFormatError(f"{source}: malformed program: {type(e).__name__}: {e}") from None
    program._bump()


def _int_field(value: Any, what: str, source: str, minimum: int | None = None) -> int:
    """An integer field (JSON's Infinity, floats and booleans are not integers)."""
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ModelFormatError(f"{source}: field {what} must be an integer{bound}, got {value!r}")
    return value


def _block_tree(data: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """The block records, once their tree is known to be sound: block i says its index is i,
    block 0 is the root (parent -1), and every other block's parent is an earlier block. So
    parents exist and there is no cycle: walking up from any block ends at block 0 (a
    block naming itself as its parent once made name lookup loop forever)."""
    blocks = _list(data, "blocks", source)
    if not blocks:
        raise ModelFormatError(f"{source}: program has no blocks")
    for bi, bd in enumerate(blocks):
        if not isinstance(bd, dict):
            raise ModelFormatError(f"{source}: block #{bi} must be an object")
        idx = _int_field(bd.get("idx"), f"'idx' of block #{bi}", source)
        if idx != bi:
            raise ModelFormatError(f"{source}: block #{bi} says its index is {idx}")
        parent = _int_field(bd.get("parent_idx", -1), f"'parent_idx' of block {bi}", source)
        if bi == 0 and parent != -1:
            raise ModelFormatError(f"{source}: block 0 is the global block; its parent_idx must be -1, got {parent}")
        if bi > 0 and not 0 <= parent < bi:
            raise ModelFormatError(
                f"{source}: block {bi} has parent_idx {parent}; a block's parent must be an earlier block (0..{bi - 1})"
            )
    return blocks


def _reason(e: Exception) -> str:
    """An exception as a reason: KeyError('shape') reads as "missing field 'shape'"."""
    if isinstance(e, KeyError) and not isinstance(e, MinigraphError):
        return f"missing field {e.args[0]!r}" if e.args else "missing field"
    if isinstance(e, MinigraphError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def _list(d: Any, key: str, source: str) -> list[Any]:
    value = d.get(key) if isinstance(d, dict) else None
    if not isinstance(value, list):
        raise ModelFormatError(f"{source}: field {key!r} must be a list")
    return value


# Regularizers live above the IR (minigraph.regularizer); each kind registers how to rebuild
# itself from its `to_dict()` form, so loading a program needs no import upwards.
_REGULARIZERS: dict[str, Callable[[dict[str, Any]], Any]] = {}


def register_regularizer(type_name: str, from_dict: Callable[[dict[str, Any]], Any]) -> None:
    _REGULARIZERS[type_name] = from_dict


def regularizer_from_dict(d: dict[str, Any] | None) -> Any:
    """Rebuild a regularizer saved by its `to_dict()`; None stays None."""
    if d is None:
        return None
    kind = d.get("type") if isinstance(d, dict) else None
    if kind not in _REGULARIZERS:
        raise ModelFormatError(f"unknown regularizer {d!r}; known types: {sorted(_REGULARIZERS)}")
    return _REGULARIZERS[kind](d)


def _load_var(block: Block, vd: dict[str, Any]) -> None:
    if not isinstance(vd, dict):
        raise ModelFormatError("a variable must be an object")
    name = vd["name"]
    if not isinstance(name, str) or not name:
        raise ModelFormatError(f"bad variable name {name!r}")
    if name in block.vars:
        raise ModelFormatError("declared twice")
    pd = vd.get("parameter")
    if pd is not None:
        p = Parameter(
            block,
            name,
            vd["shape"],
            vd["dtype"],
            trainable=bool(pd["trainable"]),
            optimize_attr=dict(pd["optimize_attr"]),
            regularizer=regularizer_from_dict(pd.get("regularizer")),
            do_model_average=bool(pd["do_model_average"]),
            need_clip=bool(pd["need_clip"]),
            stop_gradient=bool(vd["stop_gradient"]),
        )
        block._add_var(p)
    else:
        v = block.create_var(
            name,
            vd["shape"],
            vd["dtype"],
            bool(vd["persistable"]),
            bool(vd["stop_gradient"]),
            bool(vd.get("is_data", False)),
        )
        v.shape = tuple(int(d) for d in vd["shape"])


def _load_op(block: Block, od: dict[str, Any]) -> None:
    if not isinstance(od, dict):
        raise ModelFormatError("an op must be an object")
    if not isinstance(od.get("type"), str):
        raise ModelFormatError("field 'type' must be the op type's name")
    for key in ("inputs", "outputs"):
        slots = od.get(key, {})
        if not isinstance(slots, dict) or not all(
            isinstance(v, list) and all(isinstance(n, str) for n in v) for v in slots.values()
        ):
            raise ModelFormatError(f"field {key!r} must map slot names to lists of names")
        for names in slots.values():
            for n in names:
                if block._find_var_recursive(n) is None:
                    raise ModelFormatError(f"{key[:-1]} {n!r} is not a declared variable")
    attrs = od.get("attrs", {})
    if not isinstance(attrs, dict):
        raise ModelFormatError("field 'attrs' must be an object")
    shapes = {n: v.shape for n, v in block.vars.items()}
    role = od.get("role", 0)
    if not isinstance(role, int) or isinstance(role, bool) or not 0 <= role < 2**31:
        raise ModelFormatError(f"field 'role' must be an op role (a small non-negative integer), got {role!r}")
    op = block._make_op(str(od["type"]), od.get("inputs", {}), od.get("outputs", {}), attrs, role)
    for n, s in shapes.items():  # keep the saved shapes (infer may only refine -1 dims)
        block.vars[n].shape = s
    op.callsite = ""
    op.namescope = str(od.get("namescope", ""))
    block._add_op(op)
