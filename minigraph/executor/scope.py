"""Scope: where variable values live between runs (parameters, statistics, optimizer state)."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from minigraph.errors import ArgumentTypeError, InvalidArgumentError


class ScopeVariable:
    """One named slot in a scope. `get_tensor()` is a read-only numpy view of the value
    (np.array(...) of it copies); `set(value)` replaces the value with a copy."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: np.ndarray | None = None) -> None:
        self.name = name
        self.value = value

    def get_tensor(self) -> np.ndarray:
        if self.value is None:
            raise InvalidArgumentError(f"variable {self.name!r} has no value yet (run the startup program first?)")
        view = self.value.view()
        view.flags.writeable = False
        return view

    def set(self, value: Any, place: Any = None) -> None:
        """Store a copy of `value` (place is accepted for Paddle compatibility and ignored)."""
        arr = np.array(value)
        if self.value is not None and arr.dtype != self.value.dtype and arr.dtype.kind == self.value.dtype.kind:
            arr = arr.astype(self.value.dtype)
        self.value = arr

    def is_initialized(self) -> bool:
        return self.value is not None

    def __repr__(self) -> str:
        if self.value is None:
            return f"ScopeVariable({self.name}, uninitialized)"
        return f"ScopeVariable({self.name}, {self.value.dtype}{list(self.value.shape)})"


class Scope:
    """A name -> value map with an optional parent; lookups fall back to the parent."""

    def __init__(self, parent: Scope | None = None) -> None:
        self.parent = parent
        self._vars: dict[str, ScopeVariable] = {}
        self._kids: list[Scope] = []
        # Serialises executor runs: a run reads the persistables, then writes them back,
        # and two interleaved runs would lose one's updates (see scope_lock).
        self._run_lock = threading.RLock()

    def var(self, name: str) -> ScopeVariable:
        """The variable `name` in this scope, created (without a value) if absent."""
        v = self._vars.get(name)
        if v is None:
            v = self._vars[name] = ScopeVariable(name)
        return v

    def find_var(self, name: str) -> ScopeVariable | None:
        scope: Scope | None = self
        while scope is not None:
            v = scope._vars.get(name)
            if v is not None:
                return v
            scope = scope.parent
        return None

    def erase(self, names: Any) -> None:
        for n in [names] if isinstance(names, str) else names:
            self._vars.pop(n, None)

    def new_scope(self) -> Scope:
        kid = Scope(self)
        self._kids.append(kid)
        return kid

    def drop_kids(self) -> None:
        self._kids.clear()

    def local_var_names(self) -> list[str]:
        return list(self._vars)

    def _get_value(self, name: str) -> np.ndarray | None:
        v = self.find_var(name)
        return None if v is None else v.value

    def _set_value(self, name: str, value: np.ndarray) -> None:
        """Executor write-back: stores the array itself (kernels never mutate their inputs)."""
        self._swap_value(name, value)

    def _swap_value(self, name: str, value: np.ndarray) -> np.ndarray | None:
        """`_set_value`, returning the value it replaces (one lookup for both: the executor
        writes back every updated persistable on every run)."""
        v = self.find_var(name)
        if v is None:
            v = self.var(name)
        old = v.value
        # Arithmetic on 0-D arrays yields numpy scalars (np.float32); keep 0-D arrays in the scope.
        v.value = value if isinstance(value, np.ndarray) else np.asarray(value)
        return old


def scope_lock(scope: Scope) -> threading.RLock:
    """The lock an executor run on `scope` holds from reading the persistables to writing
    them back: the root scope's, since a run may write any ancestor's variables. Runs on one
    scope tree take turns (the cost: no parallelism within a tree); separate scopes run in
    parallel."""
    while scope.parent is not None:
        scope = scope.parent
    return scope._run_lock


_global_scope = Scope()
_current: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("scope", default=None)


def global_scope() -> Scope:
    """The scope runs use by default (set by scope_guard, else the process-wide one)."""
    return _current.get() or _global_scope


@contextlib.contextmanager
def scope_guard(scope: Scope) -> Iterator[None]:
    if not isinstance(scope, Scope):
        raise ArgumentTypeError(f"scope_guard expects a Scope, got {type(scope).__name__}")
    token = _current.set(scope)
    try:
        yield
    finally:
        _current.reset(token)
