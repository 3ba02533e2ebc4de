"""The current default programs, per thread/context (contextvars), and program_guard."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minigraph.ir.program import Program

_main: contextvars.ContextVar[Program | None] = contextvars.ContextVar("main", default=None)
_startup: contextvars.ContextVar[Program | None] = contextvars.ContextVar("startup", default=None)
_name_prefix: contextvars.ContextVar[str] = contextvars.ContextVar("name_prefix", default="")
# The process-wide defaults, used when a context has not set its own.
_global: dict[str, Program] = {}


def _process_default(key: str) -> Program:
    from minigraph.ir.program import Program

    if key not in _global:
        _global[key] = Program()
    return _global[key]


def default_main_program() -> Program:
    """The program layers append to: the one set by program_guard, else a process default."""
    return _main.get() or _process_default("main")


def default_startup_program() -> Program:
    """The program parameter initializers go to."""
    return _startup.get() or _process_default("startup")


@contextlib.contextmanager
def program_guard(main_program: Program, startup_program: Program | None = None) -> Iterator[None]:
    """Make `main_program` (and `startup_program`) the defaults inside the block."""
    from minigraph.ir.program import Program

    if not isinstance(main_program, Program):
        raise TypeError(f"program_guard expects a Program, got {type(main_program).__name__}")
    token = _main.set(main_program)
    token2 = _startup.set(startup_program) if startup_program is not None else None
    try:
        yield
    finally:
        _main.reset(token)
        if token2 is not None:
            _startup.reset(token2)


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
