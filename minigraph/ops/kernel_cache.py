"""Loading a kernel's cached machine code without waking numba's compiler.

Before numba's disk cache loads anything, it refreshes its target context: it imports and
registers every typing and lowering implementation numba has (numpy's array functions,
linear algebra, the typed containers, ...). Measured on the flagship example, that costs
0.15-0.2 s in every process, which is as much as the compiled kernels save over a whole
training run. None of it is needed to run machine code that was compiled earlier: the code
is already lowered and linked, and what it calls at run time is numba's runtime (NRT) and the
C helpers registered when the target context was created. So the loader here initialises
NRT and reads the cache. A cache miss goes on to numba's compiler exactly as before, and the
compiler refreshes the context itself first.

This reaches into numba's private cache API (`Dispatcher._cache`, `Cache._load_overload`,
`rtsys.initialize`). `load_quickly` checks once that those are what it expects and otherwise
leaves numba's own loader in place: slower to start, same results.
tests/test_kernel_backends.py runs every compiled kernel from a filled cache in a fresh
process and checks both that this path was taken and that the results agree.
"""

from __future__ import annotations

from typing import Any

_QuickCache: Any = None  # the FunctionCache subclass, made at the first call (numba is optional)
_loaded: list[str] = []  # the kernels this process loaded this way, for the tests


def _quick_cache_class() -> Any:
    """numba's FunctionCache with a loader that skips the context refresh, or None when
    numba's internals are not as expected."""
    global _QuickCache
    if _QuickCache is None:
        try:
            from numba.core.caching import FunctionCache
            from numba.core.runtime import rtsys
        except ImportError:
            _QuickCache = False
            return None
        needed = ("_load_overload", "_guard_against_spurious_io_errors")
        if not all(callable(getattr(FunctionCache, n, None)) for n in needed) or not callable(rtsys.initialize):
            _QuickCache = False
            return None

        class QuickCache(FunctionCache):  # type: ignore[misc, valid-type]
            def load_overload(self, sig: Any, target_context: Any) -> Any:
                rtsys.initialize(target_context)  # what loaded code needs of the refresh
                with self._guard_against_spurious_io_errors():  # as numba's own loader does
                    found = self._load_overload(sig, target_context)
                if found is not None:
                    _loaded.append(self._py_func.__qualname__)
                return found

        _QuickCache = QuickCache
    return _QuickCache or None


def load_quickly(dispatcher: Any) -> bool:
    """Give a `numba.njit(cache=True)` dispatcher the quick loader; False (and nothing
    changed) when this numba's dispatcher or cache is not the kind it knows."""
    from numba.core.caching import FunctionCache

    cls = _quick_cache_class()
    if cls is None or type(getattr(dispatcher, "_cache", None)) is not FunctionCache:
        return False
    dispatcher._cache = cls(dispatcher.py_func)
    return True


def loaded() -> list[str]:
    """Names of the kernels loaded from the cache without the refresh, in load order."""
    return list(_loaded)
