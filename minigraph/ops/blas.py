"""The BLAS library numpy loaded, and a handle on its thread count.

numpy's OpenBLAS (or MKL) starts one thread per core in every process. Two users need to
change that count while the process runs, after numpy loaded the library:
`minigraph.distributed` gives each of N ranks on a host its share of the cores, and
`minigraph.ops.team` runs BLAS single-threaded inside the kernels it splits across its own
threads. `find_blas()` goes through threadpoolctl when it is installed (any BLAS it knows),
else through OpenBLAS's own `openblas_get/set_num_threads`, found with ctypes in the library
this process has loaded; `openblas()` is the ctypes handle alone, cheap enough to call
around each run.
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import os
from collections.abc import Callable
from typing import Any

import numpy as np

# How OpenBLAS builds name their thread functions: plain, numpy/scipy wheels' bundled
# scipy-openblas ("scipy_" prefix) and 64-bit-integer builds ("64_" or "_64" suffix).
_SYMBOL_PREFIXES = ("", "scipy_")
_SYMBOL_SUFFIXES = ("", "64_", "_64")


class Blas:
    """Get/set the thread count of the BLAS libraries numpy loaded (all of them, if several)."""

    def __init__(self, how: str, get: Callable[[], int], set_: Callable[[int], None]) -> None:
        self.how = how  # "threadpoolctl" or "ctypes": which path is in use, for tests and messages
        self.get = get
        self.set = set_


def _via_threadpoolctl() -> Blas | None:
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

    return Blas("threadpoolctl", get, set_)


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


def openblas() -> Blas | None:
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

    return Blas("ctypes", lambda: max(int(get()) for get, _ in pairs), set_all)


def find_blas() -> Blas | None:
    """A handle on the loaded BLAS's thread count: threadpoolctl's, else OpenBLAS's own
    functions through ctypes, else None (no BLAS either of them can control)."""
    return _via_threadpoolctl() or openblas()


def blas_threads() -> int | None:
    """How many threads the loaded BLAS uses now (None: no controllable BLAS found)."""
    blas = find_blas()
    return None if blas is None else blas.get()
