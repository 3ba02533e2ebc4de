"""The current default programs and builder, per thread/context (contextvars); program_guard."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from minigraph.errors import ArgumentTypeError
from minigraph.ir.builder import Builder, StaticBuilder
from minigraph.ir.program import Program

_main: contextvars.ContextVar[Program | None] = contextvars.ContextVar("main", default=None)
_startup: contextvars.ContextVar[Program | None] = contextvars.ContextVar("startup", default=None)
# The process-wide defaults, used when a context has not set its own.
_global: dict[str, Program] = {}


def _process_default(key: str) -> Program:
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
    if not isinstance(main_program, Program):
        raise ArgumentTypeError(f"program_guard expects a Program, got {type(main_program).__name__}")
    token = _main.set(main_program)
    token2 = _startup.set(startup_program) if startup_program is not None else None
    try:
        yield
    finally:
        _main.reset(token)
        if token2 is not None:
            _startup.reset(token2)


_active: contextvars.ContextVar[Builder | None] = contextvars.ContextVar("builder", default=None)


def current_builder() -> Builder:
    """The builder layers emit through: the active one (eager mode, tracing), else a static
    builder over the default main and startup programs."""
    return _active.get() or StaticBuilder(default_main_program(), default_startup_program())


@contextlib.contextmanager
def use_builder(builder: Builder | None) -> Iterator[Builder | None]:
    """Make `builder` the one layers use inside the block (None: back to the static default)."""
    token = _active.set(builder)
    try:
        yield builder
    finally:
        _active.reset(token)
