"""Program: a list of blocks plus a name generator and a version number (plan caches key on it)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from minigraph.errors import ArgumentTypeError
from minigraph.ir.block import Block
from minigraph.ir.naming import NameGenerator
from minigraph.ir.operator import Operator, OpRole
from minigraph.ir.serialize import load_program_dict, program_to_dict
from minigraph.ir.text import program_text
from minigraph.ir.variable import Parameter, Variable
from minigraph.ir.verify import verify_program

if TYPE_CHECKING:
    from minigraph.ir.builder import Builder

_program_ids = itertools.count()


class Program:
    """A define-then-run program: `global_block()` holds variables and ops in order."""

    def __init__(self) -> None:
        self.blocks: list[Block] = [Block(self, 0)]
        self.names = NameGenerator()
        self._random_seed = 0
        self._version = 0
        self._current_block_idx = 0
        self._uid = next(_program_ids)  # a stable identity for plan caches
        # Shared by a program and its clones: a Variable of one may key a feed of another.
        self._lineage = self._uid
        # The builder that runs this program's ops as they are emitted: set on an eager
        # tape (minigraph.dygraph), None for a static program.
        self.eager_builder: Builder | None = None

    # --- identity / versioning ----------------------------------------------------------
    @property
    def version(self) -> int:
        return self._version

    def _bump(self) -> None:
        self._version += 1

    @property
    def random_seed(self) -> int:
        return self._random_seed

    @random_seed.setter
    def random_seed(self, seed: int) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ArgumentTypeError(f"random_seed must be an int, got {seed!r}")
        self._random_seed = seed
        self._bump()

    # --- blocks -------------------------------------------------------------------------
    def global_block(self) -> Block:
        return self.blocks[0]

    def current_block(self) -> Block:
        return self.blocks[self._current_block_idx]

    def block(self, idx: int) -> Block:
        return self.blocks[idx]

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def list_vars(self) -> list[Variable]:
        return [v for b in self.blocks for v in b.vars.values()]

    def all_parameters(self) -> list[Parameter]:
        return [v for v in self.global_block().vars.values() if isinstance(v, Parameter)]

    # --- copies -------------------------------------------------------------------------
    def clone(self, for_test: bool = False) -> Program:
        """A deep copy. With for_test=True: drop backward, optimizer and averaging ops and
        the variables only they use, and set is_test=True on every op that has it."""
        new = Program()
        new._lineage = self._lineage
        new.names = self.names.copy()
        new._random_seed = self._random_seed
        new.blocks = []
        for b in self.blocks:
            nb = Block(new, b.idx, b.parent_idx)
            ops = [op for op in b.ops if not (for_test and op.role & (OpRole.BACKWARD | OpRole.OPTIMIZE))]
            used = {n for op in ops for n in op.input_arg_names + op.output_arg_names}
            for name, v in b.vars.items():
                if for_test and name not in used and not v.is_data and not isinstance(v, Parameter):
                    continue
                nv = copy.copy(v)
                if isinstance(nv, Parameter):
                    nv.optimize_attr = dict(nv.optimize_attr)
                nb._add_var(nv)
            for op in ops:
                attrs = copy.deepcopy(op.attrs)
                if for_test and "is_test" in attrs:
                    attrs["is_test"] = True
                role = op.role & ~OpRole.LOSS if for_test else op.role
                nb._add_op(Operator(nb, op.type, op.inputs, op.outputs, attrs, role, op.callsite, op.namescope))
            new.blocks.append(nb)
        return new

    # --- checks -------------------------------------------------------------------------
    def verify(self, feed_names: Iterable[str] = ()) -> None:
        """Check the program's invariants (see minigraph.ir.verify): every op matches its
        registry entry, reads only defined variables, and records the shapes that shape
        inference gives. `feed_names` are non-data variables the caller will feed (a
        program pruned at an intermediate variable reads it without writing it). Raises
        GraphBuildError listing every problem; returns None if fine.

            main.verify()
        """
        verify_program(self, feed_names)

    # --- text ---------------------------------------------------------------------------
    def to_string(self, throw_on_error: bool = False, with_details: bool = False) -> str:
        """The readable text form. `with_details=True` adds each parameter's optimizer
        flags. `throw_on_error` is accepted for Paddle compatibility and ignored (building a
        program already refuses anything the text could not show)."""
        return program_text(self, with_details=with_details)

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        n = sum(len(b.ops) for b in self.blocks)
        return f"<Program {n} ops, {len(self.list_vars())} vars>"

    def to_dict(self) -> dict[str, Any]:
        """The program as plain JSON-able data (`Program.from_dict` reads it back)."""
        return program_to_dict(self)

    @staticmethod
    def from_dict(data: dict[str, Any], source: str = "program") -> Program:
        """Rebuild a program from `to_dict()` data, checking every op through the registry;
        ModelFormatError (naming `source`) if the data is malformed."""
        return program_from_dict(data, source)


def program_from_dict(data: Any, source: str = "program") -> Program:
    """`Program.from_dict` as a function (what minigraph.io and the command line call)."""
    program = Program()
    load_program_dict(program, data, source)
    return program
