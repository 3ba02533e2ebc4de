"""The MPI communicator: mpi4py's COMM_WORLD behind the interface of minigraph.ops.comm.

Every call passes numpy buffers to mpi4py's upper-case (buffer) methods, so nothing is
pickled: an allreduce of a float32 gradient bucket is one MPI_Allreduce on its memory.
This module never imports mpi4py itself; `init_parallel_env` hands it the `MPI` module,
so `import minigraph` works without mpi4py installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class MpiRequest:
    """A started MPI_Iallreduce."""

    def __init__(self, request: Any) -> None:
        self._request = request

    def wait(self) -> None:
        self._request.Wait()

    def test(self) -> bool:
        return bool(self._request.Test())


class MpiCommunicator:
    """`minigraph.ops.comm.Local`'s methods, over an mpi4py intracommunicator."""

    def __init__(self, mpi: Any, comm: Any) -> None:
        self._mpi = mpi
        self._comm = comm
        self.rank: int = comm.Get_rank()
        self.size: int = comm.Get_size()
        self._ops = {"sum": mpi.SUM, "max": mpi.MAX}

    def allreduce(self, buf: np.ndarray, op: str = "sum") -> None:
        self._comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._ops[op])

    def iallreduce(self, buf: np.ndarray, op: str = "sum") -> MpiRequest:
        return MpiRequest(self._comm.Iallreduce(self._mpi.IN_PLACE, buf, op=self._ops[op]))

    def bcast(self, buf: np.ndarray, root: int = 0) -> None:
        self._comm.Bcast(buf, root=root)

    def reduce(self, buf: np.ndarray, root: int = 0, op: str = "sum") -> None:
        if self.rank == root:
            self._comm.Reduce(self._mpi.IN_PLACE, buf, op=self._ops[op], root=root)
        else:
            self._comm.Reduce(buf, None, op=self._ops[op], root=root)

    def allgather(self, send: np.ndarray, recv: np.ndarray) -> None:
        self._comm.Allgather(send, recv)

    def reduce_scatter(self, send: np.ndarray, recv: np.ndarray, op: str = "sum") -> None:
        self._comm.Reduce_scatter_block(send, recv, op=self._ops[op])

    def barrier(self) -> None:
        self._comm.Barrier()

    def abort(self, code: int = 1) -> None:
        self._comm.Abort(code)
