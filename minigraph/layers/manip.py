"""Shape builders of fluid's: slice, stack, unsqueeze, squeeze, expand, pad."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minigraph.errors import ArgumentTypeError, GraphBuildError
from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper
from minigraph.layers.shape import _with_xshape

__all__ = ["expand", "pad", "slice", "squeeze", "stack", "unsqueeze"]


def _ints(where: str, what: str, values: Any) -> list[int]:
    if isinstance(values, int):
        values = [values]
    if not isinstance(values, (list, tuple)):
        raise ArgumentTypeError(f"{where}: {what} must be a list of ints, got {values!r}")
    return [int(v) for v in values]


def slice(input: Variable, axes: Sequence[int], starts: Sequence[int], ends: Sequence[int]) -> Variable:
    """input[starts[i]:ends[i]] along each of `axes`; negative bounds count from the end and
    out-of-range ones are clamped, as in Python slicing.

        y = mg.layers.slice(x, axes=[1], starts=[0], ends=[-1])   # x[:, :-1]
    """
    attrs = {"axes": _ints("slice", "axes", axes), "starts": _ints("slice", "starts", starts)}
    attrs["ends"] = _ints("slice", "ends", ends)
    return LayerHelper("slice").emit("slice", {"Input": input}, attrs)


def stack(x: Sequence[Variable], axis: int = 0) -> Variable:
    """Join same-shaped variables along a new axis `axis`."""
    xs = [x] if isinstance(x, Variable) else list(x)
    if not xs:
        raise GraphBuildError("stack: x must be a non-empty list of Variables")
    return LayerHelper("stack").emit("stack", {"X": xs}, {"axis": int(axis)}, out="Y")


def unsqueeze(input: Variable, axes: Sequence[int], name: str | None = None) -> Variable:
    """Insert a dimension of size 1 at each of `axes`, in order."""
    return _with_xshape("unsqueeze2", LayerHelper("unsqueeze", name), input, {"axes": _ints("unsqueeze", "axes", axes)})


def squeeze(input: Variable, axes: Sequence[int] = (), name: str | None = None) -> Variable:
    """Remove the size-1 dimensions among `axes` (every size-1 dimension when empty)."""
    return _with_xshape("squeeze2", LayerHelper("squeeze", name), input, {"axes": _ints("squeeze", "axes", axes)})


def expand(x: Variable, expand_times: Sequence[int], name: str | None = None) -> Variable:
    """Tile `x`: dimension i repeated expand_times[i] times."""
    attrs = {"expand_times": _ints("expand", "expand_times", expand_times)}
    return LayerHelper("expand", name).emit("expand", {"X": x}, attrs)


def pad(x: Variable, paddings: Sequence[int], pad_value: float = 0.0, name: str | None = None) -> Variable:
    """Pad with `pad_value`: `paddings` holds (before, after) for each dimension in turn."""
    attrs = {"paddings": _ints("pad", "paddings", paddings), "pad_value": float(pad_value)}
    return LayerHelper("pad", name).emit("pad", {"X": x}, attrs)
