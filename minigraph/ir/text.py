"""The readable, deterministic text form of a program: a table of variables, then one
line per op, `outputs : dtype[shape] = type(Slot=inputs) {attrs}`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minigraph.ir.role import OpRole
from minigraph.ir.variable import Parameter, Variable
from minigraph.types import shape_text

if TYPE_CHECKING:
    from minigraph.ir.operator import Operator
    from minigraph.ir.program import Program

_ROLE_NOTE = {OpRole.BACKWARD: "backward", OpRole.OPTIMIZE: "optimize"}


def var_line(v: Variable) -> str:
    if isinstance(v, Parameter):
        kind = "param" if v.trainable else "param (not trainable)"
    elif v.is_data:
        kind = "data"
    elif v.persistable:
        kind = "persist"
    else:
        kind = "var"
    flags = "" if v.stop_gradient is False or v.is_data or isinstance(v, Parameter) else "  stop_gradient"
    return f"{kind:<22}{v.name} : {v.dtype}{shape_text(v.shape)}{flags}"


def _fmt_attr(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_fmt_attr(x) for x in value) + "]"
    return str(value)


def op_line(op: Operator) -> str:
    block = op.block

    def typed(name: str) -> str:
        v = block._find_var_recursive(name)
        return f"{name} : {v.dtype}{shape_text(v.shape)}" if v is not None else name

    out_slots = [(s, ns) for s, ns in op.outputs.items() if ns]
    if len(out_slots) == 1 and len(out_slots[0][1]) == 1:
        lhs = typed(out_slots[0][1][0])
    else:
        lhs = ", ".join(f"{s}=" + _names(ns) for s, ns in out_slots)
    args = ", ".join(f"{s}={_names(ns)}" for s, ns in op.inputs.items() if ns)
    attrs = ", ".join(f"{k}={_fmt_attr(v)}" for k, v in sorted(op.attrs.items()))
    text = f"{lhs} = {op.type}({args})"
    if attrs:
        text += f" {{{attrs}}}"
    notes = [name for bit, name in _ROLE_NOTE.items() if op.role & bit]
    if notes:
        text += "  # " + ", ".join(notes)
    return text


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"


def program_text(program: Program, with_details: bool = False) -> str:
    lines = []
    for block in program.blocks:
        lines.append(f"block {block.idx} (parent {block.parent_idx}):")
        lines.append("  vars:")
        for v in block.vars.values():
            line = "    " + var_line(v)
            if with_details and isinstance(v, Parameter):
                line += (
                    f"  {{learning_rate={v.optimize_attr.get('learning_rate', 1.0)}, "
                    f"do_model_average={v.do_model_average}, need_clip={v.need_clip}}}"
                )
            lines.append(line)
        lines.append("  ops:")
        for op in block.ops:
            lines.append("    " + op_line(op))
    return "\n".join(lines) + "\n"
