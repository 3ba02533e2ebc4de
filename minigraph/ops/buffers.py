"""Output buffers for kernels: recycled by the executor, plain numpy everywhere else.

A kernel allocates its large outputs and scratch arrays with `empty(shape, dtype)` or
`zeros(shape, dtype)` instead of `np.empty`/`np.zeros`, and fills them with `out=` ufuncs.
Outside a plan run (eager mode, direct calls) these are exactly `np.empty`/`np.zeros`. While
a `Plan` runs, `empty` first takes an array of the same size and dtype from the run's
`BufferPool` (reshaped when it had another shape), so a training loop stops asking the
allocator for fresh memory (and paying a page fault per 4 KiB touched) after its first
step, and arrays of different shapes but equal size share memory.

What goes into a pool: the executor offers every value it drops after its last use; the pool
keeps the array owning the memory only when nothing else references it (a reference count
on the owner: views, the scope, fetched results, a kernel's or a user's reference all keep a
buffer out). So a pooled buffer is dead by construction, and a kernel writing into it can
never change a value anyone can see; kernels still never mutate their inputs. What
`empty` returns is uninitialised, as with np.empty.
"""

from __future__ import annotations

import contextvars
import math
import sys
from typing import Any

import numpy as np

# Arrays smaller than this come from malloc's free lists cheaply; pooling them costs more
# than it saves.
MIN_BYTES = 1 << 16

_current: contextvars.ContextVar[BufferPool | None] = contextvars.ContextVar("buffer_pool", default=None)


def _local_refs() -> int:
    """sys.getrefcount of an array held by one local variable only (2 on CPython)."""
    a = np.empty(1)
    return sys.getrefcount(a)


ONLY_LOCAL = _local_refs()


class BufferPool:
    """Dead arrays by (size, dtype), for one plan run at a time (a Plan keeps one per
    concurrent run, so two threads never share a pool)."""

    __slots__ = ("free", "wanted")

    def __init__(self) -> None:
        self.free: dict[tuple[Any, ...], list[np.ndarray]] = {}
        self.wanted: dict[tuple[Any, ...], int] = {}  # buffers asked for this run, by key

    def take(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray | None:
        """A dead buffer of the same size and dtype, shaped `shape` (a view when the buffer
        had another shape: buffers are shared by size, so e.g. a kernel's flat scratch and
        an activation of as many values reuse one block of memory)."""
        key = (math.prod(shape), dtype)  # not np.prod: ~3.5 us a call, ~20 calls a W2 step
        self.wanted[key] = self.wanted.get(key, 0) + 1
        stack = self.free.get(key)
        if not stack:
            return None
        arr = stack.pop()
        return arr if arr.shape == shape else arr.reshape(shape)

    def release(self, env: list[Any], i: int) -> None:
        """Drop `env[i]` and keep its memory if it is an array nobody else references
        (neither the array nor, for a view, the array owning its memory)."""
        value = env[i]
        env[i] = None
        if value.__class__ is not np.ndarray:
            return
        base = value.base
        if base is None:
            if sys.getrefcount(value) == ONLY_LOCAL:
                self._keep(value)
            return
        if base.__class__ is not np.ndarray:
            return
        value = None  # the view goes; its owner may now be unreferenced
        if sys.getrefcount(base) == ONLY_LOCAL:
            self._keep(base)

    def _keep(self, arr: np.ndarray) -> None:
        if arr.base is not None or arr.nbytes < MIN_BYTES:
            return
        flags = arr.flags
        if not (flags.owndata and flags.writeable and flags.c_contiguous):
            return
        self.free.setdefault((arr.size, arr.dtype), []).append(arr)

    def end_run(self) -> None:
        """Keep for the next run at most as many buffers of each shape as this run asked for:
        shapes it never asked for (e.g. a smaller last batch) go, and values some kernel
        allocated without the pool cannot make it grow from run to run."""
        for key in list(self.free):
            stack = self.free[key]
            del stack[self.wanted.get(key, 0) :]
            if not stack:
                del self.free[key]
        self.wanted = {}

    def nbytes(self) -> int:
        return sum(a.nbytes for stack in self.free.values() for a in stack)


def donate(value: Any) -> None:
    """Offer `value`, an op's input that dies at this op and that the caller has already
    removed from the environment, to the running pool before the op's kernel runs, so the
    kernel's output can take its memory. The caller's one local variable must be its only
    reference, and for a view (a reshaped whole buffer), the view its owner's (then nothing
    else can see the buffer being overwritten); otherwise nothing happens."""
    pool = _current.get()
    # counted: the caller's variable and this argument
    if pool is None or value.__class__ is not np.ndarray or sys.getrefcount(value) != ONLY_LOCAL + 1:
        return
    base = value.base
    if base is None:
        pool._keep(value)
    elif base.__class__ is np.ndarray and base.size == value.size and value.flags.c_contiguous:
        # a reshaped view of a whole buffer (a kernel's usual output): its owner may go, when
        # only the view holds it (the view's reference, this variable and getrefcount's)
        if sys.getrefcount(base) == ONLY_LOCAL + 1:
            pool._keep(base)


def activate(pool: BufferPool | None) -> contextvars.Token[BufferPool | None]:
    return _current.set(pool)


def deactivate(token: contextvars.Token[BufferPool | None]) -> None:
    _current.reset(token)


def empty(shape: Any, dtype: Any) -> np.ndarray:
    """An uninitialised array: a recycled dead buffer during a plan run, else np.empty."""
    pool = _current.get()
    if pool is not None:
        dt = np.dtype(dtype)
        shape = tuple(shape)
        arr = pool.take(shape, dt)
        if arr is not None:
            return arr
        return np.empty(shape, dt)
    return np.empty(shape, dtype)


def zeros(shape: Any, dtype: Any) -> np.ndarray:
    out = empty(shape, dtype)
    out.fill(0)
    return out


def scrap(arr: np.ndarray) -> None:
    """Give a kernel's own scratch array (or a view of one) back to the running plan's pool.
    Call it last: the caller must not use `arr` afterwards. Safe with anything: the memory is
    kept only when the caller's one local variable is its last reference (another view, or
    an output sharing it, keeps it out)."""
    pool = _current.get()
    if pool is None or arr.__class__ is not np.ndarray:
        return
    base = arr.base
    if base is None:
        if sys.getrefcount(arr) == ONLY_LOCAL + 1:
            pool._keep(arr)
    elif base.__class__ is np.ndarray and sys.getrefcount(arr) == ONLY_LOCAL + 1:
        # the owner is held by `arr` and by `base` here, nothing else
        if sys.getrefcount(base) == ONLY_LOCAL + 1:
            pool._keep(base)
