"""BLAS threads per process, so that N ranks on one host do not oversubscribe its cores.

numpy's OpenBLAS (or MKL) starts one thread per core in every process. N ranks on C cores
then run N x C BLAS threads, and OpenBLAS's threads spin-wait for work: every GEMM of one
rank waits for threads the other ranks' spinning keeps off the cores (measured on 2 cores:
`mpiexec -n 2 python examples/train_digits_distributed.py --quiet` took 28-38 s, and 2 s
with OPENBLAS_NUM_THREADS=1). Two places give each process max(1, cores // N) threads:

- `python -m minigraph.distributed.launch` puts OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and
  MKL_NUM_THREADS in the environment of the processes it starts (`launch_thread_env`), as
  torchrun does for OMP_NUM_THREADS;
- `init_parallel_env()` under a bare `mpiexec -n N`, where numpy loaded BLAS before any
  minigraph code ran, lowers the running library's thread count (`limit_blas_threads`):
  through `minigraph.ops.blas.find_blas()` (threadpoolctl when it is installed, else
  OpenBLAS's own `openblas_set_num_threads`).

A thread variable the user set is their choice and is never overridden.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping

from minigraph.ops.blas import find_blas

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_warned: list[bool] = [False]


def cpu_count() -> int:
    """The cores of this host (os.cpu_count(), what torchrun divides too)."""
    return os.cpu_count() or 1


def threads_per_process(cores: int, local_ranks: int) -> int:
    """BLAS threads for each of `local_ranks` processes sharing `cores`: at least 1."""
    return max(1, cores // max(1, local_ranks))


def user_thread_vars(environ: Mapping[str, str]) -> list[str]:
    """The thread variables the user set (an empty value is unset: BLAS ignores it too)."""
    return [name for name in THREAD_VARS if environ.get(name, "").strip()]


def launch_thread_env(environ: Mapping[str, str], nproc: int, cores: int) -> dict[str, str]:
    """The thread variables the launcher adds for `nproc` processes on `cores` cores.

    Each variable the user has not set gets threads_per_process(cores, nproc). One that the
    user set is kept, and an explicit OMP_NUM_THREADS alone keeps the other two unset:
    OpenBLAS and MKL fall back to it, so setting theirs would override the user's number.
    """
    chosen = user_thread_vars(environ)
    if "OMP_NUM_THREADS" in chosen:
        return {}
    n = str(threads_per_process(cores, nproc))
    return {name: n for name in THREAD_VARS if name not in chosen}


def blas_target(current: int, local_ranks: int, cores: int) -> int | None:
    """The thread count to lower this process's BLAS to, or None when `local_ranks`
    processes of `current` threads each fit on `cores` (or lowering would not help)."""
    if local_ranks * current <= cores:
        return None
    target = threads_per_process(cores, local_ranks)
    return target if target < current else None


def limit_blas_threads(
    local_ranks: int, announce: bool = False, environ: Mapping[str, str] | None = None
) -> int | None:
    """Lower this process's BLAS threads to max(1, cores // local_ranks) if `local_ranks`
    processes on this host at the current count would oversubscribe its cores.

    Does nothing when the user set OMP_NUM_THREADS, OPENBLAS_NUM_THREADS or MKL_NUM_THREADS
    (or the launcher did: then BLAS already started with that number). Returns the new
    count, or None when nothing changed. With `announce`, says so in one line on stderr.
    """
    if user_thread_vars(os.environ if environ is None else environ):
        return None
    blas = find_blas()
    if blas is None:
        if local_ranks > 1:
            _warn_once(
                f"minigraph could not find numpy's BLAS library to limit its threads ({local_ranks} processes "
                f"share {cpu_count()} cores here): if training is slow, set OMP_NUM_THREADS, "
                f"OPENBLAS_NUM_THREADS and MKL_NUM_THREADS to {threads_per_process(cpu_count(), local_ranks)} "
                f"before starting the job, or install threadpoolctl"
            )
        return None
    current = blas.get()
    target = blas_target(current, local_ranks, cpu_count())
    if target is None:
        return None
    blas.set(target)
    if announce:
        print(
            f"[minigraph.distributed] {local_ranks} processes on {cpu_count()} cores: BLAS threads per process "
            f"{current} -> {target} (set OMP_NUM_THREADS or OPENBLAS_NUM_THREADS to choose)",
            file=sys.stderr,
            flush=True,
        )
    return target


def _warn_once(message: str) -> None:
    if not _warned[0]:
        _warned[0] = True
        warnings.warn(message, RuntimeWarning, stacklevel=3)
