"""Eager ("dygraph") mode: the same layers and op kernels, computed at once.

with minigraph.dygraph.guard():
    x = minigraph.dygraph.to_variable(np.ones((2, 3), "float32"))
    y = minigraph.nn.Linear(3, 4)(x)
    minigraph.layers.mean(y).backward()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from minigraph.dygraph.tracer import Tracer, activate, current_tracer, deactivate
from minigraph.dygraph.variable import EagerParameter, EagerVariable

__all__ = ["EagerParameter", "EagerVariable", "enabled", "guard", "no_grad", "seed", "to_variable"]


@contextlib.contextmanager
def guard(place: Any = None, seed: int = 0) -> Iterator[None]:
    """Inside the block, layers compute at once. `seed` makes random ops reproducible."""
    token = activate(Tracer(seed))
    try:
        yield
    finally:
        deactivate(token)


def enabled() -> bool:
    return current_tracer() is not None


def _tracer() -> Tracer:
    tracer = current_tracer()
    if tracer is None:
        raise RuntimeError("this needs eager mode: use `with minigraph.dygraph.guard():`")
    return tracer


def to_variable(value: Any, name: str | None = None, zero_copy: Any = None, dtype: Any = None) -> EagerVariable:
    """An eager variable holding a copy of `value` (stop_gradient=True, like Paddle)."""
    tracer = _tracer()
    if isinstance(value, EagerVariable):
        return value
    arr = np.array(value, dtype=dtype, copy=True)
    if arr.dtype == np.float64 and dtype is None and not isinstance(value, (np.ndarray, np.generic)):
        arr = arr.astype("float32")  # Python floats become float32, as in Paddle
    v = tracer.block.create_var(name or tracer.names.generate("generated_var"), stop_gradient=True)
    v.value = arr
    return v


class no_grad(contextlib.ContextDecorator):
    """Run ops without recording them for backward (context manager or decorator)."""

    def __enter__(self) -> no_grad:
        self._tracer = current_tracer()
        if self._tracer is not None:
            self._saved = self._tracer.grad_enabled
            self._tracer.grad_enabled = False
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._tracer is not None:
            self._tracer.grad_enabled = self._saved


def seed(value: int) -> None:
    """Reseed the current eager session's random ops (initializers, dropout)."""
    tracer = _tracer()
    tracer.random_seed = int(value)
    tracer._op_count = 0
