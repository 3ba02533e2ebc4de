"""Name generation. Every Program owns a NameGenerator, so two programs built the same
way get the same names (`fc_0`, `fc_0.w_0`, `tmp_3`), optimizer accumulators included."""

from __future__ import annotations

import contextlib
import contextvars
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


_name_prefix: contextvars.ContextVar[str] = contextvars.ContextVar("name_prefix", default="")


@contextlib.contextmanager
def name_scope(prefix: str) -> Iterator[None]:
    """Ops appended inside carry `prefix` (nested scopes join with '/'), for display."""
    outer = _name_prefix.get()
    token = _name_prefix.set(f"{outer}/{prefix}" if outer else prefix)
    try:
        yield
    finally:
        _name_prefix.reset(token)


def current_name_scope() -> str:
    return _name_prefix.get()
