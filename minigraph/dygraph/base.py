"""The eager session: `guard()`, `to_variable`, `no_grad` (fluid's `dygraph.base`).

Inside `guard()`, the session's tape is also the default main and startup program, so
fluid's `default_startup_program().random_seed = s` (or the main program's) seeds the
session's random ops as `dygraph.seed(s)` does: the same initial weights and dropout masks
on every run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from minigraph.dygraph.builder import EagerBuilder
from minigraph.errors import ArgumentTypeError, GraphBuildError
from minigraph.ir.framework import current_builder, program_guard, use_builder
from minigraph.ir.variable import Variable

__all__ = ["enabled", "guard", "no_grad", "seed", "to_variable"]


@contextlib.contextmanager
def guard(place: Any = None, seed: int = 0) -> Iterator[None]:
    """Inside the block, layers compute at once. `seed` makes random ops reproducible;
    `place` is accepted for Paddle compatibility (minigraph runs on the CPU)."""
    builder = EagerBuilder(seed)
    with use_builder(builder), program_guard(builder.program, builder.program):
        yield


def enabled() -> bool:
    """Whether layers compute at once here (inside `guard()`)."""
    return current_builder().immediate


def _eager_builder() -> EagerBuilder:
    builder = current_builder()
    if not isinstance(builder, EagerBuilder):
        raise GraphBuildError("this needs eager mode: use `with minigraph.dygraph.guard():`")
    return builder


def to_variable(value: Any, name: str | None = None, zero_copy: Any = None, dtype: Any = None) -> Variable:
    """An eager variable holding a copy of `value` (stop_gradient=True, like Paddle).
    `zero_copy` is accepted for Paddle compatibility and ignored (the value is copied)."""
    builder = _eager_builder()
    if isinstance(value, Variable) and value.value is not None:
        return value
    if value is None or isinstance(value, (str, bytes)):
        raise ArgumentTypeError(f"to_variable: value must be numbers (an array, a number, nested lists), got {value!r}")
    try:
        arr = np.array(value, dtype=dtype, copy=True)
    except (TypeError, ValueError) as e:  # ragged lists, uncastable values
        raise ArgumentTypeError(f"to_variable: cannot make an array of {type(value).__name__} ({e})") from None
    if arr.dtype.kind in "OUSV":
        raise ArgumentTypeError(f"to_variable: value must hold numbers, got an array of dtype {arr.dtype}")
    if arr.dtype == np.float64 and dtype is None and not isinstance(value, (np.ndarray, np.generic)):
        arr = arr.astype("float32")  # Python floats become float32, as in Paddle
    return builder.constant(arr, name)


class no_grad(contextlib.ContextDecorator):
    """Run ops without recording them for backward (context manager or decorator)."""

    def __enter__(self) -> no_grad:
        self._builder = current_builder()
        self._saved = self._builder.grad_enabled
        self._builder.grad_enabled = False
        return self

    def __exit__(self, *exc: Any) -> None:
        self._builder.grad_enabled = self._saved


def seed(value: int) -> None:
    """Reseed the current eager session's random ops (initializers, dropout)."""
    _eager_builder().reseed(value)
