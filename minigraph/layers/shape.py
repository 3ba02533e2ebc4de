"""Shape builders: reshape, transpose, flatten, concat, split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minigraph.errors import ArgumentTypeError, GraphBuildError
from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper

__all__ = ["concat", "flatten", "reshape", "split", "transpose"]


def _with_xshape(op: str, helper: LayerHelper, x: Variable, attrs: dict[str, Any], act: str | None = None) -> Variable:
    """Ops with Paddle's XShape side output: Out is tmp_0, XShape tmp_1 (as Paddle names them)."""
    out = helper.create_tmp(x.dtype)
    xshape = helper.create_tmp(x.dtype, stop_gradient=True)
    helper.append_op(op, {"X": x}, {"Out": out, "XShape": xshape}, attrs)
    return helper.append_activation(out, act)


def reshape(
    x: Variable,
    shape: Sequence[int],
    actual_shape: Any = None,
    act: str | None = None,
    inplace: bool = False,
    name: str | None = None,
) -> Variable:
    """Reshape `x`; in `shape` a 0 copies the input dim at that index and one -1 is inferred.

    Example: `mg.layers.reshape(x, [0, -1])` turns [N, 3, 4] into [N, 12]. A shape whose
    element count cannot match raises GraphBuildError at once. `inplace` is accepted for
    ported scripts and ignored; a shape given at run time (`actual_shape`) is not supported."""
    if actual_shape is not None:
        raise GraphBuildError("reshape: actual_shape (a shape tensor) is not supported; pass shape as a list")
    if not isinstance(shape, (list, tuple)):
        raise ArgumentTypeError(f"reshape: shape must be a list or tuple of ints, got {type(shape).__name__}")
    helper = LayerHelper("reshape2", name)
    return _with_xshape("reshape2", helper, x, {"shape": [int(d) for d in shape]}, act)


def transpose(x: Variable, perm: Sequence[int], name: str | None = None) -> Variable:
    """Permute the dims of `x`: output dim i is input dim perm[i]."""
    return _with_xshape("transpose2", LayerHelper("transpose", name), x, {"axis": [int(p) for p in perm]})


def flatten(x: Variable, axis: int = 1, name: str | None = None) -> Variable:
    """A 2-D view of `x`: [prod(dims[:axis]), prod(dims[axis:])] (fluid's flatten)."""
    return _with_xshape("flatten2", LayerHelper("flatten", name), x, {"axis": int(axis)})


def concat(input: Sequence[Variable], axis: int = 0, name: str | None = None) -> Variable:
    """Join the variables in `input` along `axis`; the other dims must agree."""
    if isinstance(input, Variable):
        input = [input]
    if not input:
        raise GraphBuildError("concat: input must be a non-empty list of Variables")
    helper = LayerHelper("concat", name)
    out = helper.create_tmp(input[0].dtype)
    helper.append_op("concat", {"X": list(input)}, {"Out": out}, {"axis": int(axis)})
    return out


def split(
    input: Variable, num_or_sections: int | Sequence[int], dim: int = -1, name: str | None = None
) -> list[Variable]:
    """Split `input` along `dim` into `num_or_sections` equal parts (an int) or parts of the
    given sizes (a list, where one -1 takes the rest). Returns the list of parts."""
    if isinstance(num_or_sections, int):
        count, attrs = num_or_sections, {"num": num_or_sections, "sections": []}
    else:
        sections = [int(s) for s in num_or_sections]
        count, attrs = len(sections), {"num": 0, "sections": sections}
    if count <= 0:
        raise GraphBuildError(f"split: num_or_sections must give at least one part, got {num_or_sections!r}")
    helper = LayerHelper("split", name)
    outs = [helper.create_tmp(input.dtype) for _ in range(count)]
    helper.append_op("split", {"X": input}, {"Out": outs}, {**attrs, "axis": int(dim)})
    return outs
