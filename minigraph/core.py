"""`fluid.core`: the handful of names fluid scripts reach for in Paddle's C++ core.

minigraph runs on the CPU only. `CUDAPlace(i)` constructs, so scripts that pick a place by
`core.is_compiled_with_cuda()` (False here) or pass a CUDAPlace anyway still run: the place
is treated as the CPU, with one warning per process saying so.

Variable-length sequences (LoD) are refused everywhere with one message naming the
alternative; `LoDTensor` exists as a plain dense tensor (a LoD of its own is refused).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError, InvalidArgumentError
from minigraph.executor import CPUPlace, Scope

__all__ = [
    "CPUPlace",
    "CUDAPlace",
    "LoDTensor",
    "Scope",
    "cpu_places",
    "create_lod_tensor",
    "is_compiled_with_cuda",
]

LOD_REFUSED = (
    "variable-length sequences (LoD, lod_level > 0) are not supported by minigraph; pad the "
    "sequences to a common length and feed a mask (or the lengths) as a second input"
)

_warned = False


class CUDAPlace(CPUPlace):
    """A GPU place in Paddle; here the CPU (minigraph has no GPU kernels)."""

    def __init__(self, device_id: int = 0) -> None:
        global _warned
        if not isinstance(device_id, int) or isinstance(device_id, bool) or device_id < 0:
            raise InvalidArgumentError(f"CUDAPlace: device_id must be a non-negative int, got {device_id!r}")
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


class LoDTensor:
    """A dense tensor under fluid's name: `set(array, place)`, `np.array(t)`, `shape()`.
    Its LoD is always empty; setting a non-empty one is refused (see LOD_REFUSED)."""

    def __init__(self, value: Any = None) -> None:
        self._value = None if value is None else np.array(value)

    def set(self, value: Any, place: Any = None) -> None:
        self._value = np.array(value)

    def shape(self) -> list[int]:
        return list(self._array().shape)

    def lod(self) -> list[list[int]]:
        return []

    def recursive_sequence_lengths(self) -> list[list[int]]:
        return []

    def set_lod(self, lod: Any) -> None:
        _refuse_lod(lod)

    def set_recursive_sequence_lengths(self, lengths: Any) -> None:
        _refuse_lod(lengths)

    def _array(self) -> np.ndarray:
        if self._value is None:
            raise InvalidArgumentError("this LoDTensor holds no value yet; call set(array, place) first")
        return self._value

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self._array()
        return arr if dtype is None else arr.astype(dtype)


def _refuse_lod(lod: Any) -> None:
    if lod and any(len(level) for level in lod):
        raise GraphBuildError(LOD_REFUSED)


def create_lod_tensor(data: Any, recursive_seq_lens: Any, place: Any = None) -> LoDTensor:
    """A LoDTensor of `data`; only an empty `recursive_seq_lens` (no sequences) is accepted."""
    _refuse_lod(recursive_seq_lens)
    return LoDTensor(data)
