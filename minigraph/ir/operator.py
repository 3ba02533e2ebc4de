"""Operator: one op record in a block (type, slot -> variable names, attrs, role)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minigraph.ir.block import Block


class OpRole:
    """Paddle's op_role bits; clone(for_test=True) drops BACKWARD and OPTIMIZE ops."""

    FORWARD = 0
    BACKWARD = 1
    OPTIMIZE = 2
    LOSS = 256


class Operator:
    __slots__ = ("block", "type", "inputs", "outputs", "attrs", "role", "callsite", "namescope")

    def __init__(
        self,
        block: Block,
        type: str,
        inputs: dict[str, list[str]],
        outputs: dict[str, list[str]],
        attrs: dict[str, Any],
        role: int = OpRole.FORWARD,
        callsite: str = "",
        namescope: str = "",
    ) -> None:
        self.block = block
        self.type = type
        self.inputs = inputs
        self.outputs = outputs
        self.attrs = attrs
        self.role = role
        self.callsite = callsite
        self.namescope = namescope

    def input(self, slot: str) -> list[str]:
        return list(self.inputs.get(slot, []))

    def output(self, slot: str) -> list[str]:
        return list(self.outputs.get(slot, []))

    @property
    def input_names(self) -> list[str]:
        return list(self.inputs)

    @property
    def output_names(self) -> list[str]:
        return list(self.outputs)

    @property
    def input_arg_names(self) -> list[str]:
        return [n for names in self.inputs.values() for n in names]

    @property
    def output_arg_names(self) -> list[str]:
        return [n for names in self.outputs.values() for n in names]

    def attr(self, name: str) -> Any:
        return self.attrs[name]

    def has_attr(self, name: str) -> bool:
        return name in self.attrs

    def _set_attr(self, name: str, value: Any) -> None:
        self.attrs[name] = value
        self.block.program._bump()

    def __str__(self) -> str:
        from minigraph.ir.text import op_line

        return op_line(self)

    __repr__ = __str__
