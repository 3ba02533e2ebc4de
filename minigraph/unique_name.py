"""`minigraph.unique_name.generate(key)` and `guard()`: names from the current main
program's generator (see minigraph.ir.naming)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from minigraph.ir.framework import default_main_program
from minigraph.ir.naming import NameGenerator

__all__ = ["NameGenerator", "generate", "guard"]


def generate(key: str) -> str:
    """A fresh name `key_N` from the current main program's generator."""
    return default_main_program().names.generate(key)


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Inside the block, names count from zero again (the program's counters are restored after)."""
    program = default_main_program()
    saved = program.names
    program.names = NameGenerator()
    try:
        yield
    finally:
        program.names = saved
