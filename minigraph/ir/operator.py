"""Operator: one op record in a block (type, slot -> variable names, attrs, role).

The record is read-only to the outside (`op.attrs`, `op.inputs`, `op.outputs` refuse
writes): changes go through `_set_attr`, `_rename_input` and `_rename_output`, which check
the change against the op's registry entry and bump the program version, so an Executor
never runs a stale compiled plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from minigraph.errors import GraphBuildError
from minigraph.ir.role import OpRole
from minigraph.ir.text import op_line
from minigraph.ir.views import ReadOnlyDict
from minigraph.registry import check_attr, get_op

if TYPE_CHECKING:
    from minigraph.ir.block import Block

__all__ = ["OpRole", "Operator"]


class Operator:
    __slots__ = ("block", "type", "_inputs", "_outputs", "_attrs", "role", "callsite", "namescope")

    def __init__(
        self,
        block: Block,
        type: str,
        inputs: Mapping[str, Iterable[str]],
        outputs: Mapping[str, Iterable[str]],
        attrs: Mapping[str, Any],
        role: int = OpRole.FORWARD,
        callsite: str = "",
        namescope: str = "",
    ) -> None:
        self.block = block
        self.type = type
        self._inputs = self._slot_map(inputs, "inputs", "_rename_input(old, new)")
        self._outputs = self._slot_map(outputs, "outputs", "_rename_output(old, new)")
        self._attrs = ReadOnlyDict(
            attrs,
            f"the attributes of op {type} are read-only; call op._set_attr(name, value), which checks "
            f"the value against the op's definition and makes executors recompile the program",
        )
        self.role = role
        self.callsite = callsite
        self.namescope = namescope

    def _slot_map(self, slots: Mapping[str, Iterable[str]], what: str, method: str) -> ReadOnlyDict:
        return ReadOnlyDict(
            {slot: tuple(names) for slot, names in slots.items()},
            f"the {what} of op {self.type} are read-only; call op.{method}, which keeps the program "
            f"version (and executor plan caches) current",
        )

    # --- reading --------------------------------------------------------------------------
    @property
    def inputs(self) -> Mapping[str, tuple[str, ...]]:
        """Input slot -> variable names (read-only)."""
        return self._inputs

    @property
    def outputs(self) -> Mapping[str, tuple[str, ...]]:
        """Output slot -> variable names (read-only)."""
        return self._outputs

    @property
    def attrs(self) -> Mapping[str, Any]:
        """Attribute name -> value (read-only; `dict(op.attrs)` gives a writable copy)."""
        return self._attrs

    def input(self, slot: str) -> list[str]:
        return list(self._inputs.get(slot, ()))

    def output(self, slot: str) -> list[str]:
        return list(self._outputs.get(slot, ()))

    @property
    def input_names(self) -> list[str]:
        return list(self._inputs)

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    @property
    def input_arg_names(self) -> list[str]:
        return [n for names in self._inputs.values() for n in names]

    @property
    def output_arg_names(self) -> list[str]:
        return [n for names in self._outputs.values() for n in names]

    def attr(self, name: str) -> Any:
        return self._attrs[name]

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    # --- changing (each change bumps the program version) -----------------------------------
    def _set_attr(self, name: str, value: Any) -> None:
        """Set attribute `name`, checked against the op's registry schema (unknown names and
        values of the wrong type are refused); shape inference runs again with the new value
        and the op's outputs take the shapes it gives. On any error the op is unchanged."""
        opdef = get_op(self.type)
        attrs = dict(self._attrs)
        attrs[name] = check_attr(opdef, name, value)
        self.block._infer(opdef, self._inputs, self._outputs, attrs)
        dict.__setitem__(self._attrs, name, attrs[name])
        self.block.program._bump()

    def _rename_input(self, old: str, new: str) -> None:
        """Read variable `new` wherever this op reads `old`."""
        self._rename(self._inputs, old, new)

    def _rename_output(self, old: str, new: str) -> None:
        """Write variable `new` wherever this op writes `old`."""
        self._rename(self._outputs, old, new)

    def _rename(self, slots: ReadOnlyDict, old: str, new: str) -> None:
        if self.block._find_var_recursive(new) is None:
            raise GraphBuildError(f"op {self.type}: cannot rename {old!r} to {new!r}, which is not a variable")
        for slot, names in slots.items():
            if old in names:
                dict.__setitem__(slots, slot, tuple(new if n == old else n for n in names))
        self.block.program._bump()

    def __str__(self) -> str:
        return op_line(self)

    __repr__ = __str__
