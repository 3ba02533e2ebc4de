"""The eager tape: a Program whose variables hold values.

Eager variables and parameters are ordinary `Variable`/`Parameter` records living in the
tape's block, with `value` set. The block holds its variables weakly (a temporary dies
when the user drops it) and holds no ops: each op that needs a gradient is recorded as a
`TapeEntry` on the variables it wrote, so the recorded graph lives exactly as long as the
values that can still reach it. `backward` lays the reachable entries out as a static
Block and runs the static backward transformation over it (minigraph/dygraph/backward.py).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from minigraph.ir.block import Block
from minigraph.ir.program import Program
from minigraph.ir.variable import Parameter, Variable

if TYPE_CHECKING:
    from minigraph.dygraph.builder import EagerBuilder

Key = tuple[Variable, int]  # (variable, version)


@dataclass
class TapeEntry:
    """One recorded op: its attrs, the values it read and wrote (snapshots at call time),
    and which (variable, version) each slot held."""

    seq: int
    op_type: str
    attrs: dict[str, Any]
    in_vals: dict[str, Any]  # slot -> array, list of arrays, or None
    out_vals: dict[str, Any]
    in_keys: dict[str, list[Key]]
    out_keys: dict[str, list[Key]]


class TapeBlock(Block):
    """The block of a tape: variables held weakly; `append_op` runs the op at once."""

    def __init__(self, program: Tape) -> None:
        super().__init__(program, 0)
        self._vars = weakref.WeakValueDictionary()
        self.tape = program

    def create_var(self, name: str | None = None, *args: Any, **kwargs: Any) -> Variable:
        """A new eager variable (always new: two values may share a user-given name);
        Block.create_var's arguments."""
        v = Variable(self, name or self.program.names.generate("tmp"), *args, **kwargs)
        self._vars[v.name] = v
        return v

    def append_op(self, *args: Any, **kwargs: Any) -> None:
        """Run the op now (initializers and other code written against a block land here)."""
        self.tape.builder.append_op(*args, **kwargs)

    def _find_var_recursive(self, name: str) -> Variable | None:
        return self.tape.params.get(name) or self._vars.get(name)


class Tape(Program):
    """The program of one eager session (one `dygraph.guard()`): names, parameters, seed."""

    def __init__(self, builder: EagerBuilder, seed: int = 0) -> None:
        super().__init__()
        self.builder = builder
        self.eager_builder = builder
        self.params: dict[str, Parameter] = {}  # held strongly: a parameter outlives its layer's calls
        self.blocks = [TapeBlock(self)]
        self.random_seed = seed

    def all_parameters(self) -> list[Parameter]:
        return list(self.params.values())

    # Setting the seed restarts the op count that seeds random ops, so fluid's
    # `default_startup_program().random_seed = s` inside guard() reseeds the session.
    @property
    def random_seed(self) -> int:
        return self._random_seed

    @random_seed.setter
    def random_seed(self, seed: int) -> None:
        Program.random_seed.fset(self, seed)  # type: ignore[attr-defined]
        self.builder._op_count = 0
