"""`fluid.core`: the handful of names fluid scripts reach for in Paddle's C++ core.

minigraph runs on the CPU only. `CUDAPlace(i)` constructs, so scripts that pick a place by
`core.is_compiled_with_cuda()` (False here) or pass a CUDAPlace anyway still run: the place
is treated as the CPU, with one warning per process saying so.
"""

from __future__ import annotations

import warnings

from minigraph.executor import CPUPlace, Scope

__all__ = ["CPUPlace", "CUDAPlace", "Scope", "cpu_places", "is_compiled_with_cuda"]

_warned = False


class CUDAPlace(CPUPlace):
    """A GPU place in Paddle; here the CPU (minigraph has no GPU kernels)."""

    def __init__(self, device_id: int = 0) -> None:
        global _warned
        if not isinstance(device_id, int) or isinstance(device_id, bool) or device_id < 0:
            raise ValueError(f"CUDAPlace: device_id must be a non-negative int, got {device_id!r}")
        self.device_id = device_id
        if not _warned:
            _warned = True
            warnings.warn(
                f"CUDAPlace({device_id}): minigraph runs on the CPU only; this place is treated as CPUPlace()",
                RuntimeWarning,
                stacklevel=2,
            )

    def __repr__(self) -> str:
        return f"CUDAPlace({self.device_id}) (runs on the CPU)"


def is_compiled_with_cuda() -> bool:
    """Always False: minigraph's kernels are numpy on the CPU."""
    return False


def cpu_places(device_count: int | None = None) -> list[CPUPlace]:
    """[CPUPlace()] * device_count (one by default): fluid's list of places to run on."""
    return [CPUPlace() for _ in range(1 if device_count is None else int(device_count))]
