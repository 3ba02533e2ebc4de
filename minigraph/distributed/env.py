"""The job's processes: init_parallel_env, get_rank, get_world_size, barrier.

A process started by `mpiexec` (its launcher sets PMI_SIZE, OMPI_COMM_WORLD_SIZE, ...)
joins MPI's COMM_WORLD through mpi4py; any other process is a job of one, needs no MPI, and
runs every collective as the identity. `init_parallel_env` installs the communicator for
the collective kernels (minigraph.ops.comm) and makes a failure on one rank end the whole
job promptly: an uncaught exception prints the rank and its traceback, then calls
MPI_Abort, so the other ranks never wait forever in a collective the failed one will not
join. (A rank killed by a signal is noticed by mpiexec itself, which ends the others.)
It also keeps the ranks on one host from oversubscribing its cores with BLAS threads
(minigraph.distributed.threads).

Every entry point of minigraph.distributed initialises on first use, so a script that
forgets `init_parallel_env()` still sees its real rank.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from minigraph.distributed.mpi import MpiCommunicator
from minigraph.distributed.threads import limit_blas_threads
from minigraph.errors import MinigraphError
from minigraph.ops import comm

# Set by MPICH/Hydra, Open MPI and PMIx launchers in every process they start.
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE")


@dataclass(frozen=True)
class ParallelEnv:
    """This process's place in the job."""

    rank: int
    world_size: int

    @property
    def local_rank(self) -> int:
        return self.rank

    @property
    def nranks(self) -> int:
        return self.world_size


_initialized: list[bool] = [False]


def launched_size() -> int:
    """How many processes the launcher that started this one says the job has (0: no launcher)."""
    for key in _SIZE_VARS:
        value = os.environ.get(key, "")
        if value.isdigit():
            return int(value)
    return 0


def init_parallel_env() -> ParallelEnv:
    """Join the job this process was launched into (once; later calls return the same).

    Under `mpiexec -n N` this imports mpi4py and uses COMM_WORLD; started any other way, or
    as one process, the job has one rank and mpi4py is not needed.

        import minigraph.distributed as dist
        env = dist.init_parallel_env()      # ParallelEnv(rank=..., world_size=...)
    """
    if not _initialized[0]:
        size = launched_size()
        if size > 1 or (size == 1 and _mpi4py_installed()):
            try:
                from mpi4py import MPI  # optional dependency (minigraph[distributed]): only multi-process jobs need it
            except ImportError:
                raise MinigraphError(
                    f"this process was started by an MPI launcher as one of {size} processes, but mpi4py is "
                    f"not installed: pip install 'minigraph[distributed]' (mpi4py and mpich)"
                ) from None
            comm.set_world(MpiCommunicator(MPI, MPI.COMM_WORLD))
            _install_abort_on_error()
            # numpy loaded BLAS before this ran, one thread per core in each rank: N ranks on a
            # host would spin N x cores threads (20x slower on 2 cores), so lower it here.
            local_ranks, local_rank = _ranks_on_this_host(MPI)
            limit_blas_threads(local_ranks, announce=local_rank == 0)
        _initialized[0] = True
    world = comm.world()
    return ParallelEnv(world.rank, world.size)


def _ranks_on_this_host(mpi: Any) -> tuple[int, int]:
    """(how many of the job's processes share this host's cores, this one's index among them).
    Collective: every rank calls it once, from init_parallel_env."""
    node = mpi.COMM_WORLD.Split_type(mpi.COMM_TYPE_SHARED)
    try:
        return node.Get_size(), node.Get_rank()
    finally:
        node.Free()


def _mpi4py_installed() -> bool:
    try:
        import mpi4py  # optional dependency: probed only, the MPI runtime is not started here
    except ImportError:
        return False
    return mpi4py is not None


def get_rank() -> int:
    """This process's rank, 0 .. world size - 1 (0 in a job of one process)."""
    return init_parallel_env().rank


def get_world_size() -> int:
    """How many processes the job has (1 without MPI)."""
    return init_parallel_env().world_size


def barrier() -> None:
    """Return once every process of the job has called barrier()."""
    init_parallel_env()
    comm.world().barrier()


def _install_abort_on_error() -> None:
    previous = sys.excepthook

    def abort_job(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        world = comm.world()
        text = "".join(traceback.format_exception(kind, error, tb))
        sys.stderr.write(f"[minigraph.distributed] rank {world.rank} of {world.size} failed:\n{text}")
        sys.stderr.write(f"[minigraph.distributed] rank {world.rank}: aborting the job\n")
        sys.stderr.flush()
        try:
            world.abort(1)
        finally:  # only reached if the abort itself failed
            previous(kind, error, tb)

    sys.excepthook = abort_job
