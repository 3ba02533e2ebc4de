"""`minigraph.unique_name.generate(key)` and `guard()`: names from the generator of the
program being built (the default main program, or the eager tape inside dygraph.guard())."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from minigraph.ir.framework import current_builder
from minigraph.ir.naming import NameGenerator

__all__ = ["NameGenerator", "generate", "guard"]


def generate(key: str) -> str:
    """A fresh name `key_N` from the generator of the program being built."""
    return current_builder().names.generate(key)


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Inside the block, names count from zero again (the program's counters are restored after)."""
    program = current_builder().program
    saved = program.names
    program.names = NameGenerator()
    try:
        yield
    finally:
        program.names = saved
