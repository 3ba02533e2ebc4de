"""The communicator the collective kernels talk to: one per process, world size 1 by default.

Collective ops (`c_allreduce_sum`, `sync_batch_norm`, ...) are ordinary registry ops whose
kernels exchange numpy buffers with the other processes of the job. They find their peers
here, at the ops level, so the kernels need nothing from the layers above them.
`minigraph.distributed.init_parallel_env()` installs an MPI communicator (mpi4py's
COMM_WORLD) with `set_world`; until then, and in any job of one process, the `Local`
communicator below stands in: every collective of one process is the identity (or a copy),
so the same program runs unchanged without MPI.

A communicator works in place on C-contiguous numpy buffers (mpi4py's upper-case, buffer
methods: no pickling). Reductions are "sum" or "max"; averages are a sum and a scale,
done by the kernels. `stats` counts what the job spent waiting, for the benchmark.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

REDUCE_OPS = ("sum", "max")


class Request:
    """A started non-blocking collective; `wait()` blocks until the buffer holds the result."""

    def wait(self) -> None:
        """Nothing to wait for: a world of one process finishes every collective at once."""

    def test(self) -> bool:
        """Whether the collective has finished (lets MPI progress it meanwhile)."""
        return True


@dataclass
class CommStats:
    """Time blocked in collectives and bytes reduced, since the last `reset()`."""

    wait_seconds: float = 0.0  # blocked in c_wait (the part of a bucket's allreduce not hidden)
    blocking_seconds: float = 0.0  # inside blocking collectives (sync_batch_norm, c_allreduce_*)
    bytes_reduced: int = 0
    buckets: int = 0

    def reset(self) -> None:
        self.wait_seconds = self.blocking_seconds = 0.0
        self.bytes_reduced = self.buckets = 0


class Local:
    """The communicator of a job of one process: rank 0 of 1, every collective trivial."""

    rank = 0
    size = 1

    def allreduce(self, buf: np.ndarray, op: str = "sum") -> None:
        """Reduce `buf` over all processes, in place."""

    def iallreduce(self, buf: np.ndarray, op: str = "sum") -> Request:
        """Start reducing `buf` in place; the result is there after `wait()`."""
        return Request()

    def bcast(self, buf: np.ndarray, root: int = 0) -> None:
        """Overwrite `buf` on every process with root's."""

    def reduce(self, buf: np.ndarray, root: int = 0, op: str = "sum") -> None:
        """Reduce `buf` in place on `root` (other processes' buffers are left unspecified)."""

    def allgather(self, send: np.ndarray, recv: np.ndarray) -> None:
        """recv[k * len(send):(k + 1) * len(send)] = send of process k, on every process."""
        recv.reshape(-1)[...] = send.reshape(-1)

    def reduce_scatter(self, send: np.ndarray, recv: np.ndarray, op: str = "sum") -> None:
        """recv = this process's block (of `size` equal blocks) of the reduction of `send`."""
        recv.reshape(-1)[...] = send.reshape(-1)

    def barrier(self) -> None:
        """Return once every process has called it."""

    def abort(self, code: int = 1) -> None:
        """End every process of the job now (a failing rank must not leave the others waiting)."""
        raise SystemExit(code)


_world: list[Any] = [Local()]
stats = CommStats()


def world() -> Any:
    """The communicator of this process (a `Local` one until init_parallel_env installs MPI)."""
    return _world[0]


def set_world(comm: Any) -> None:
    """Install `comm` (anything with `Local`'s methods) as the process's communicator."""
    _world[0] = comm


def timed(call: Any, *args: Any) -> None:
    """Run a blocking collective `call(*args)`, counting its time in `stats.blocking_seconds`."""
    t0 = time.perf_counter()
    call(*args)
    stats.blocking_seconds += time.perf_counter() - t0


def timed_allreduce(buf: np.ndarray, op: str = "sum") -> None:
    """A blocking allreduce of `buf` in place (nothing to do in a job of one process)."""
    if world().size > 1:
        timed(world().allreduce, buf, op)
        stats.bytes_reduced += buf.nbytes
