"""Name generation. Every Program owns a NameGenerator, so two programs built the same
way get the same names (`fc_0`, `fc_0.w_0`, `tmp_3`), optimizer accumulators included."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class NameGenerator:
    """Counts per key: `generate("fc")` gives fc_0, fc_1, ...; `"fc_0.w"` gives fc_0.w_0."""

    __slots__ = ("counters",)

    def __init__(self, counters: dict[str, int] | None = None) -> None:
        self.counters: dict[str, int] = dict(counters or {})

    def generate(self, key: str) -> str:
        n = self.counters.get(key, 0)
        self.counters[key] = n + 1
        return f"{key}_{n}"

    def copy(self) -> NameGenerator:
        return NameGenerator(self.counters)


def generate(key: str) -> str:
    """A fresh name `key_N` from the current main program's generator."""
    from minigraph.ir.framework import default_main_program

    return default_main_program().names.generate(key)


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Inside the block, names count from zero again (the program's counters are restored after)."""
    from minigraph.ir.framework import default_main_program

    program = default_main_program()
    saved = program.names
    program.names = NameGenerator()
    try:
        yield
    finally:
        program.names = saved
