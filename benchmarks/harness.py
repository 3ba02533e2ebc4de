"""Measuring helpers shared by the workloads: interleaved median timing, RSS, BLAS info.

Timing interleaves the implementations round by round (numpy, static, eager, then static,
eager, numpy, ...: the order rotates), so a noisy period slows them all alike and the ratios
stay stable even when the absolute times do not. Each sample repeats the step enough times
to last at least `min_sample` seconds.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from typing import Any


def rss_mib() -> float:
    """The current resident set size of this process, in MiB (from /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    """The peak resident set size of this process so far, in MiB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def page_faults() -> int:
    """Minor page faults of this process so far (a freshly mapped page costs one)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_interleaved(
    steps: dict[str, Callable[[], Any]], reps: int, min_sample: float, warmup: int = 2, settle: float = 0.0
) -> dict[str, dict[str, float]]:
    """Median seconds per call of each step, plus minor page faults per call. With `settle`,
    each sample starts that many seconds after the previous one ended: a library's idle
    threads keep spinning for a while after its last parallel call (OpenBLAS's for about
    0.1 s) and would otherwise take a core from whichever implementation is timed next."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    inner: dict[str, int] = {}
    for name, step in steps.items():
        t0 = time.perf_counter()
        step()
        once = max(time.perf_counter() - t0, 1e-7)
        inner[name] = max(1, int(min_sample / once))
    samples: dict[str, list[float]] = {name: [] for name in steps}
    faults: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for r in range(reps):
        # rotate the order each round, so no implementation always runs right after the
        # one that leaves the caches (or the heap) in the worst state
        for name in names[r % len(names) :] + names[: r % len(names)]:
            step, n = steps[name], inner[name]
            if settle:
                time.sleep(settle)
            f0 = page_faults()
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            samples[name].append((time.perf_counter() - t0) / n)
            faults[name].append((page_faults() - f0) / n)
    return {
        name: {"median_s": statistics.median(samples[name]), "faults": statistics.median(faults[name])}
        for name in steps
    }


def blas_info() -> dict[str, Any]:
    """Which BLAS numpy runs, its kernel (architecture) and thread count, when threadpoolctl is
    installed (it is not a dependency of minigraph)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"blas": "unknown (threadpoolctl not installed)"}
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            return {
                "blas": info.get("internal_api"),
                "version": info.get("version"),
                "architecture": info.get("architecture"),
                "threads": info.get("num_threads"),
            }
    return {"blas": "none found"}
