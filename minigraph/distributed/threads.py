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
  through threadpoolctl when it is installed, else through OpenBLAS's own
  `openblas_set_num_threads`, found with ctypes in the library this process has loaded.

A thread variable the user set is their choice and is never overridden.
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# How OpenBLAS builds name their thread functions: plain, numpy/scipy wheels' bundled
# scipy-openblas ("scipy_" prefix) and 64-bit-integer builds ("64_" or "_64" suffix).
_SYMBOL_PREFIXES = ("", "scipy_")
_SYMBOL_SUFFIXES = ("", "64_", "_64")

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


# --- the BLAS library this process has loaded ------------------------------------------------


class _Blas:
    """Get/set the thread count of the BLAS libraries numpy loaded (all of them, if several)."""

    def __init__(self, how: str, get: Callable[[], int], set_: Callable[[int], None]) -> None:
        self.how = how  # "threadpoolctl" or "ctypes": which path is in use, for tests and messages
        self.get = get
        self.set = set_


def _via_threadpoolctl() -> _Blas | None:
    try:
        import threadpoolctl  # optional: not a minigraph dependency, used when installed
    except ImportError:
        return None
    controller_class = getattr(threadpoolctl, "ThreadpoolController", None)  # threadpoolctl >= 3.0
    if controller_class is None:
        return None
    blas = controller_class().select(user_api="blas")
    if not blas.lib_controllers:
        return None

    def get() -> int:
        return max(lib.num_threads for lib in controller_class().select(user_api="blas").lib_controllers)

    def set_(n: int) -> None:
        # limit() applies at once; its returned limiter would only restore the old count on
        # exit, and this limit is meant to last for the life of the process.
        controller_class().select(user_api="blas").limit(limits=n)

    return _Blas("threadpoolctl", get, set_)


def _loaded_libraries() -> list[str]:
    """Paths of the shared libraries with "openblas" in their name that this process loaded
    (/proc/self/maps on Linux), else those bundled next to numpy (macOS, Windows wheels)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {fields[5].strip() for line in maps if len(fields := line.split(maxsplit=5)) == 6}
    except OSError:
        here = os.path.dirname(np.__file__)
        paths = {
            *glob.glob(os.path.join(here, ".dylibs", "*")),
            *glob.glob(os.path.join(os.path.dirname(here), "numpy.libs", "*")),
        }
    return sorted(p for p in paths if "openblas" in os.path.basename(p).lower())


def _via_ctypes() -> _Blas | None:
    pairs: list[tuple[Any, Any]] = []
    for path in _loaded_libraries():
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same handle, nothing is loaded twice
        except OSError:
            continue
        for prefix, suffix in itertools.product(_SYMBOL_PREFIXES, _SYMBOL_SUFFIXES):
            get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
            set_ = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, set_.restype, set_.argtypes = ctypes.c_int, None, [ctypes.c_int]
                pairs.append((get, set_))
                break
    if not pairs:
        return None

    def set_all(n: int) -> None:
        for _, set_ in pairs:
            set_(n)

    return _Blas("ctypes", lambda: max(int(get()) for get, _ in pairs), set_all)


def find_blas() -> _Blas | None:
    """A handle on the loaded BLAS's thread count: threadpoolctl's, else OpenBLAS's own
    functions through ctypes, else None (no BLAS either of them can control)."""
    return _via_threadpoolctl() or _via_ctypes()


def blas_threads() -> int | None:
    """How many threads the loaded BLAS uses now (None: no controllable BLAS found)."""
    blas = find_blas()
    return None if blas is None else blas.get()


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
