"""minigraph's own worker threads, lent to the kernels of one executor run.

The compiled conv2d (conv_rows.py) works through the batch a chunk at a time. With two BLAS
threads, OpenBLAS parallelises each chunk's small GEMM, but the compiled loops around it
(building the patches, the epilogue) run on one core, so a second core gained little: the
benchmarks' CNN inference took 8-11 ms at two threads against 11 ms at one. Splitting the
chunks themselves across the threads, each running BLAS single-threaded, parallelises all
of it (about 1.9x on that network's convolutions).

A kernel asks `threads_for(work)`. Inside an executor run of a program with such kernels
(`open_run`/`close_run`), work large enough to gain borrows the team: on the first ask, or
from the run's start when the program's previous run borrowed it, until the run's end.
Two sets of threads must not share the cores, and the kernels must not wait for the OS to
spread them, so while the team is lent:

- BLAS runs single-threaded (its count is put back at the end): OpenBLAS's own idle threads
  spin for about 0.1 s after a threaded call and would take a core from a worker;
- each worker is pinned to its own CPU of the process's allowed set, and the lending thread
  to another for the length of each split (its affinity is put back right after): unpinned,
  a woken worker was first placed on its waker's CPU and the two ran one after the other
  for tens of milliseconds.

A team has as many threads as BLAS had at lend time (so OPENBLAS_NUM_THREADS or
OMP_NUM_THREADS, threadpoolctl and minigraph.distributed's per-rank share all choose it),
at most one per allowed CPU. Where the BLAS is not an OpenBLAS this module can control, or
one thread is all there is, lending does nothing and the kernels run as before.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from minigraph.errors import InvalidArgumentError
from minigraph.ops.blas import Blas, openblas

_AFFINITY = hasattr(os, "sched_setaffinity")  # Linux; elsewhere threads are not pinned


class _Worker:
    """A daemon thread running the parts it is sent, pinned to one CPU."""

    def __init__(self, name: str) -> None:
        self.tasks: queue.SimpleQueue[tuple[int, Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self.cpu = -1
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def _loop(self) -> None:
        while True:
            cpu, fn, args = self.tasks.get()
            try:
                if cpu != self.cpu and _AFFINITY:
                    os.sched_setaffinity(0, {cpu})  # 0: this thread
                    self.cpu = cpu
                fn(*args)
                self.done.put(None)
            except BaseException as e:  # handed to the lender, which raises it
                self.done.put(e)


class _Team:
    def __init__(self) -> None:
        self.lock = threading.Lock()  # held by the thread the team is lent to
        self.local = threading.local()  # in each thread: .run (its run's Lent, or None)
        self.workers: list[_Worker] = []
        self.cpus: list[int] = []  # the CPU of the lender (0) and of each worker (1, ...)
        self.blas: Blas | None | bool = False  # False: not looked up yet


_team = _Team()

# The least work (multiply-adds) worth splitting. Measured on the benchmarks' CNN at two
# threads: convolutions of 14-75 M multiply-adds (batch 32, forward and gradient) gained
# nothing from splitting and the step as a whole lost (the data moves between the cores'
# caches, a worker takes 50-150 us to wake, and the GEMMs outside them lose OpenBLAS's
# threads), while those of 113-302 M (batch 256) ran 1.9x faster.
MIN_WORK = 10**8


class Lent:
    """One run's claim on the team (see `open_run`)."""

    __slots__ = ("size", "blas_threads", "affinity", "held")

    def __init__(self) -> None:
        self.size = 0  # 0: not lent yet; 1: nothing to lend; n: lent, n threads
        self.blas_threads = 0
        self.affinity: set[int] | None = None
        self.held = False


def open_run(lend_now: bool = False) -> Lent | None:
    """Mark the start of an executor run in this thread: its kernels may then ask for the
    team (`threads_for`), which is lent on the first such ask, or at once with `lend_now`,
    and kept to the run's end (`close_run`). None for a run nested in another (it shares the
    outer run's team).

    The executor lends at once when the program's previous run borrowed the team: raising
    BLAS's thread count again and calling it threaded before a kernel lowers it once more
    measured erratic (a CNN training step at two threads: 4 ms became 5-36 ms)."""
    if getattr(_team.local, "run", None) is not None:
        return None
    lent = Lent()
    _team.local.run = lent
    if lend_now:
        _lend(lent)
    return lent


def close_run(lent: Lent | None) -> None:
    """End a run opened by `open_run`: if the team was lent, BLAS gets its threads back."""
    if lent is None:
        return
    _team.local.run = None
    if not lent.held:
        return
    try:
        if isinstance(_team.blas, Blas):
            _team.blas.set(lent.blas_threads)
    finally:
        _team.lock.release()


def threads_for(work: int) -> int:
    """How many threads a kernel doing `work` multiply-adds splits it across: the team's
    size when this thread is in an executor run, the work is worth it and the team can be
    lent (lent now, if this is the run's first ask: BLAS single-threaded, threads pinned),
    else 1."""
    lent = getattr(_team.local, "run", None)
    if lent is None or work < MIN_WORK:
        return 1
    if lent.size == 0:
        _lend(lent)
    return lent.size


def size() -> int:
    """The team's size in this thread's run (1 when it is not lent)."""
    lent = getattr(_team.local, "run", None)
    return lent.size if lent is not None and lent.size > 1 else 1


def _lend(lent: Lent) -> None:
    lent.size = 1
    if _team.blas is False:
        _team.blas = openblas()
    blas = _team.blas
    if not isinstance(blas, Blas) or not _team.lock.acquire(blocking=False):
        return  # no OpenBLAS to control, or lent to a concurrent run in another thread
    threads = blas.get()
    cpus = sorted(os.sched_getaffinity(0)) if _AFFINITY else list(range(threads))
    n = min(threads, len(cpus))
    if n <= 1:
        _team.lock.release()
        return
    lent.held, lent.size, lent.blas_threads = True, n, threads
    blas.set(1)
    lent.affinity = set(cpus) if _AFFINITY else None
    _team.cpus = cpus[:n] if _AFFINITY else [-1] * n


def each(count: int, fn: Callable[[int, int], None], threads: int = 1) -> None:
    """fn(i, slot) for every i in range(count), on `threads` threads (at most the lent team's
    size): the calling thread is slot 0, the team's workers slots 1, 2, ... Each thread takes
    the next i when it finishes one, so a thread slowed by something else on its core
    (another process, or another library's BLAS threads spinning for a while after a call)
    simply does fewer. Returns when every call has finished, raising the first error any
    raised (the rest of the i are then skipped)."""
    threads = min(threads, count)
    if threads <= 1:
        for i in range(count):
            fn(i, 0)
        return
    if threads > size():
        raise InvalidArgumentError(f"{threads} threads asked of a team of {size()}")
    while len(_team.workers) < threads - 1:
        _team.workers.append(_Worker(f"minigraph-team-{len(_team.workers) + 1}"))
    taken = itertools.count()  # next() on it is atomic: the GIL is held while it runs
    failed: list[BaseException] = []

    def drain(slot: int) -> None:
        for i in taken:
            if i >= count or failed:
                return
            try:
                fn(i, slot)
            except BaseException as e:
                failed.append(e)
                raise

    # The calling thread is pinned for the split only: between splits it stays free to move,
    # so two processes' serial work is never held on one CPU.
    lent = _team.local.run
    if lent.affinity is not None:
        os.sched_setaffinity(0, {_team.cpus[0]})
    for slot in range(1, threads):
        _team.workers[slot - 1].tasks.put((_team.cpus[slot], drain, (slot,)))
    try:
        drain(0)
    except BaseException:
        pass  # in `failed`
    finally:
        for slot in range(1, threads):  # always wait: the calls write into buffers the caller frees
            _team.workers[slot - 1].done.get()
        if lent.affinity is not None:
            os.sched_setaffinity(0, lent.affinity)
    if failed:
        raise failed[0]
