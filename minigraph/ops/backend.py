"""Which kernel backend runs: plain numpy, or numba-compiled loops for the hottest kernels.

`MINIGRAPH_KERNELS=numpy|numba` chooses (read once, at the first kernel call); without it,
numba when it is importable, else numpy. `name()` (also `minigraph.kernels()`) says which
runs; `use(name)` forces one (for tests and benchmarks) until it is called again, `use(None)`
going back to the environment's choice; `forced(name)` does so for a with block.

The numpy kernels stay the reference: a compiled path is chosen inside an existing kernel
function, so ops, shapes and gradients never depend on the backend. Compiled loops run
serially (no `parallel=True`): on the small per-op tensors here threads cost more than
they save, and the executor may already run ops side by side.

numba itself is imported at the first compiled call, not by `import minigraph` (it costs
about half a second). Compiled functions are written as plain Python on numpy arrays in the
`*_loops` modules and compiled here with `njit(cache=True)`: the machine code is cached next
to the source (`__pycache__`, or NUMBA_CACHE_DIR), so only the very first run compiles. Later
processes load it through ops/kernel_cache.py, which skips the registry refresh numba's own
loader starts with.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import Any

from minigraph.errors import InvalidArgumentError
from minigraph.ops import kernel_cache

BACKENDS = ("numpy", "numba")
ENV = "MINIGRAPH_KERNELS"

_forced: str | None = None
_chosen: str | None = None
_compiled: dict[Callable[..., Any], Callable[..., Any]] = {}


def _from_env() -> str:
    have_numba = importlib.util.find_spec("numba") is not None
    wanted = os.environ.get(ENV, "").strip().lower()
    if wanted not in ("", *BACKENDS):
        raise InvalidArgumentError(f"{ENV} must be one of {BACKENDS}, got {wanted!r}")
    if wanted == "numpy" or not have_numba:
        # NOTE: MINIGRAPH_KERNELS=numba without numba installed runs numpy, like the default.
        return "numpy"
    return "numba"


def name() -> str:
    """The kernel backend that runs: "numpy" or "numba"."""
    global _chosen
    if _forced is not None:
        return _forced
    if _chosen is None:
        _chosen = _from_env()
    return _chosen


def use(backend: str | None) -> None:
    """Force a backend ("numpy", or "numba", which must be importable); None: back to the
    environment's choice."""
    global _forced, _chosen
    if backend is not None:
        if backend not in BACKENDS:
            raise InvalidArgumentError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "numba" and importlib.util.find_spec("numba") is None:
            raise InvalidArgumentError("the numba backend needs numba (pip install 'minigraph[fast]')")
    _forced, _chosen = backend, None


@contextlib.contextmanager
def forced(backend: str) -> Iterator[None]:
    """`use(backend)` for the duration of a with block, then the previous choice again."""
    before = _forced
    use(backend)
    try:
        yield
    finally:
        use(before)


def compiled() -> bool:
    return name() == "numba"


def jit(fn: Callable[..., Any], reassociate: bool = False) -> Callable[..., Any]:
    """`fn` compiled by numba (serial, cached on disk), compiled once per process.
    `reassociate` lets LLVM reorder floating-point sums (vectorised reductions); only for
    loops accumulating in float64, whose result it changes by far less than float32's ulp."""
    done = _compiled.get(fn)
    if done is None:
        import numba  # optional third-party dependency (the `fast` extra): imported lazily

        fastmath = {"reassoc"} if reassociate else False
        done = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=fastmath)(fn)
        kernel_cache.load_quickly(done)
        _compiled[fn] = done
    return done
