"""Shape ops: reshape2, transpose2, flatten2, concat, split.

reshape2, transpose2 and flatten2 also have Paddle's optional `XShape` output: a zero-size
array of shape [0] + X.shape that records X's shape without holding its data, so the grad
op can restore the shape while X itself is freed. When XShape is not wired the grad op
reads X instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import ExecutionError, GraphBuildError
from minigraph.ops.common import NO_SECOND_ORDER, norm_axis
from minigraph.registry import GradContext, OpDef, register
from minigraph.types import shape_text


def _prod(dims: Any) -> int:
    return int(np.prod(dims, dtype=np.int64)) if len(dims) else 1


def _known_prod(dims: Any) -> int:
    """Product of the dims, or -1 if any is unknown."""
    return -1 if any(d < 0 for d in dims) else _prod(dims)


# --- XShape plumbing shared by reshape2 / transpose2 / flatten2 -----------------------------


def _xshape_meta(x: Any) -> tuple[tuple[int, ...], str]:
    return (0, *x.shape), x.dtype


def _xshape_value(x: np.ndarray) -> np.ndarray:
    return np.empty((0, *x.shape), dtype=x.dtype)


def _shape_from(x: np.ndarray | None, xshape: np.ndarray | None) -> tuple[int, ...]:
    return tuple(xshape.shape[1:]) if xshape is not None else tuple(x.shape)  # type: ignore[union-attr]


def _restore_grad_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    """X@GRAD is shaped like X (read from XShape when X is not an input)."""
    if ins.get("XShape") is not None:
        xs = ins["XShape"]
        return {"X@GRAD": (tuple(xs.shape[1:]), ins["Out@GRAD"].dtype)}
    return {"X@GRAD": (tuple(ins["X"].shape), ins["Out@GRAD"].dtype)}


def _restore_shape_grad(op: str) -> Any:
    """Grad maker: `<op>_grad(XShape or X, Out@GRAD) -> X@GRAD`, a plain reshape back."""

    def grad(g: GradContext) -> None:
        xshape = g.output("XShape")
        g.emit(
            f"{op}_grad",
            attrs=g.attrs,
            XShape=xshape,
            X=None if xshape is not None else g.input("X"),
            **{"Out@GRAD": g.out_grad("Out"), "X@GRAD": g.in_grad("X")},
        )

    return grad


def _restore_kernel(a: dict[str, Any], x: Any, xshape: Any, d: np.ndarray) -> tuple[np.ndarray]:
    return (d.reshape(_shape_from(x, xshape)),)


# --- reshape2 --------------------------------------------------------------------------------


def reshape_target(in_shape: tuple[int, ...], shape: list[int]) -> tuple[int, ...]:
    """Resolve Paddle's reshape spec against `in_shape` (which may hold -1 = unknown):
    0 copies the input dim at the same index, one -1 is inferred from the element count.
    Raises GraphBuildError when no shape fits."""
    spec = list(shape)
    if spec.count(-1) > 1:
        raise GraphBuildError(f"shape {spec} has more than one -1; only one dim can be inferred")
    out: list[int] = []
    copied: set[int] = set()
    for i, d in enumerate(spec):
        if d == 0:
            if i >= len(in_shape):
                raise GraphBuildError(f"shape {spec}: 0 at index {i} copies a dim the rank-{len(in_shape)} input lacks")
            out.append(in_shape[i])
            copied.add(i)
        elif d == -1 or d > 0:
            out.append(d)
        else:
            raise GraphBuildError(f"shape {spec}: dim {d} is invalid (use a positive size, 0 to copy, -1 to infer)")
    # Only the dims not copied through take part in the element-count balance.
    rest_in = [d for i, d in enumerate(in_shape) if i not in copied]
    rest_out = [d for i, d in enumerate(spec) if i not in copied and d != -1]
    if any(d < 0 for d in rest_in):
        # An unknown input dim (the batch) is not copied: the count can only be checked at run time.
        return tuple(out)
    total, fixed = _prod(rest_in), _prod(rest_out)
    if -1 in spec:
        if fixed == 0 or total % fixed:
            raise GraphBuildError(
                f"cannot reshape {shape_text(in_shape)} ({_prod(in_shape)} elements) to {spec}: "
                f"{total} is not a multiple of {fixed}"
            )
        out[spec.index(-1)] = total // fixed
    elif total != fixed:
        raise GraphBuildError(
            f"cannot reshape {shape_text(in_shape)} ({_known_prod(in_shape)} elements) to {spec} "
            f"({_known_prod(out)} elements)"
        )
    return tuple(out)


def _reshape_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["X"]
    return {"Out": (reshape_target(tuple(x.shape), attrs["shape"]), x.dtype), "XShape": _xshape_meta(x)}


def _reshape(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        target = reshape_target(x.shape, a["shape"])
    except GraphBuildError as e:
        raise ExecutionError(f"reshape2: {e}") from None
    # A view: kernels never mutate their inputs, so sharing the buffer is safe.
    return x.reshape(target), _xshape_value(x)


register(
    OpDef(
        "reshape2",
        ("X",),
        ("Out", "XShape"),
        _reshape,
        _reshape_infer,
        attrs={"shape": []},
        grad=_restore_shape_grad("reshape2"),
        optional_outputs=("XShape",),
    )
)
register(
    OpDef(
        "reshape2_grad",
        ("X?", "XShape?", "Out@GRAD"),
        ("X@GRAD",),
        _restore_kernel,
        _restore_grad_infer,
        attrs={"shape": []},
        no_grad=NO_SECOND_ORDER,
    )
)

# --- flatten2: fluid's flatten, always 2-D -----------------------------------------------------


def _flatten_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, axis = ins["X"], attrs["axis"]
    if not 0 <= axis <= len(x.shape):
        raise GraphBuildError(f"axis {axis} must be in [0, {len(x.shape)}] for an input of rank {len(x.shape)}")
    out = (_known_prod(x.shape[:axis]), _known_prod(x.shape[axis:]))
    return {"Out": (out, x.dtype), "XShape": _xshape_meta(x)}


def _flatten(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    axis = a["axis"]
    return x.reshape(_prod(x.shape[:axis]), _prod(x.shape[axis:])), _xshape_value(x)


register(
    OpDef(
        "flatten2",
        ("X",),
        ("Out", "XShape"),
        _flatten,
        _flatten_infer,
        attrs={"axis": 1},
        grad=_restore_shape_grad("flatten2"),
        optional_outputs=("XShape",),
    )
)
register(
    OpDef(
        "flatten2_grad",
        ("X?", "XShape?", "Out@GRAD"),
        ("X@GRAD",),
        _restore_kernel,
        _restore_grad_infer,
        attrs={"axis": 1},
        no_grad=NO_SECOND_ORDER,
    )
)

# --- transpose2 ----------------------------------------------------------------------------


def _check_perm(perm: list[int], ndim: int) -> None:
    if sorted(perm) != list(range(ndim)):
        raise GraphBuildError(f"axis {perm} is not a permutation of the {ndim} dims (0..{ndim - 1}) of the input")


def _transpose_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, perm = ins["X"], attrs["axis"]
    _check_perm(perm, len(x.shape))
    return {"Out": (tuple(x.shape[p] for p in perm), x.dtype), "XShape": _xshape_meta(x)}


def _transpose_grad_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    d, perm = ins["Out@GRAD"], attrs["axis"]
    _check_perm(perm, len(d.shape))
    inv = np.argsort(perm)
    return {"X@GRAD": (tuple(d.shape[p] for p in inv), d.dtype)}


register(
    OpDef(
        "transpose2",
        ("X",),
        ("Out", "XShape"),
        # A contiguous copy: later ops (matmul, reshape) run faster on it than on a strided view.
        lambda a, x: (np.ascontiguousarray(x.transpose(a["axis"])), _xshape_value(x)),
        _transpose_infer,
        attrs={"axis": []},
        # The gradient is the inverse permutation of the output gradient; no forward value needed.
        grad=lambda g: g.emit(
            "transpose2_grad", attrs=g.attrs, **{"Out@GRAD": g.out_grad("Out"), "X@GRAD": g.in_grad("X")}
        ),
        optional_outputs=("XShape",),
    )
)
register(
    OpDef(
        "transpose2_grad",
        ("Out@GRAD",),
        ("X@GRAD",),
        lambda a, d: (np.ascontiguousarray(d.transpose(np.argsort(a["axis"]))),),
        _transpose_grad_infer,
        attrs={"axis": []},
        no_grad=NO_SECOND_ORDER,
    )
)

# --- concat --------------------------------------------------------------------------------


def _concat_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    xs = ins["X"]
    if not xs:
        raise GraphBuildError("needs at least one input")
    first = xs[0]
    rank = len(first.shape)
    if rank == 0:
        raise GraphBuildError("cannot concatenate 0-D inputs; reshape them to [1] first")
    axis = norm_axis(attrs["axis"], rank, "concat")
    out = list(first.shape)
    for v in xs[1:]:
        if v.dtype != first.dtype:
            raise GraphBuildError(f"inputs differ in dtype: {first.name!r} is {first.dtype}, {v.name!r} is {v.dtype}")
        if len(v.shape) != rank:
            raise GraphBuildError(
                f"inputs differ in rank: {first.name!r} is {shape_text(first.shape)}, "
                f"{v.name!r} is {shape_text(v.shape)}"
            )
        for i, (a, b) in enumerate(zip(out, v.shape)):
            if i == axis:
                continue
            if a >= 0 and b >= 0 and a != b:
                raise GraphBuildError(
                    f"inputs differ in dim {i} (not the concat axis {axis}): {first.name!r} is "
                    f"{shape_text(first.shape)}, {v.name!r} is {shape_text(v.shape)}"
                )
            if a < 0:
                out[i] = b
    out[axis] = sum(v.shape[axis] for v in xs) if all(v.shape[axis] >= 0 for v in xs) else -1
    return {"Out": (tuple(out), first.dtype)}


def _concat(a: dict[str, Any], xs: list[np.ndarray]) -> tuple[np.ndarray]:
    return (np.concatenate(xs, axis=a["axis"] % xs[0].ndim),)


def _concat_grad(a: dict[str, Any], xs: list[np.ndarray], d: np.ndarray) -> tuple[list[np.ndarray]]:
    axis = a["axis"] % d.ndim
    cuts = np.cumsum([x.shape[axis] for x in xs])[:-1]
    return ([np.ascontiguousarray(p) for p in np.split(d, cuts, axis=axis)],)


def _concat_grad_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    return {"X@GRAD": [(tuple(v.shape), ins["Out@GRAD"].dtype) for v in ins["X"]]}


register(
    OpDef(
        "concat",
        ("X*",),
        ("Out",),
        _concat,
        _concat_infer,
        attrs={"axis": 0},
        grad=lambda g: g.emit(
            "concat_grad", attrs=g.attrs, X=g.input("X"), **{"Out@GRAD": g.out_grad("Out"), "X@GRAD": g.in_grad("X")}
        ),
    )
)
register(
    OpDef(
        "concat_grad",
        ("X*", "Out@GRAD"),
        ("X@GRAD*",),
        _concat_grad,
        _concat_grad_infer,
        attrs={"axis": 0},
        no_grad=NO_SECOND_ORDER,
        optional_outputs=("X@GRAD",),
    )
)

# --- split ---------------------------------------------------------------------------------


def split_sizes(dim: int, num: int, sections: list[int]) -> list[int]:
    """Sizes of the pieces along the split axis (-1 where unknown); GraphBuildError if the
    spec cannot divide a dim of size `dim` (-1 = unknown)."""
    if sections:
        if num not in (0, len(sections)):
            raise GraphBuildError(f"give num or sections, not both (num={num}, sections={sections})")
        if sections.count(-1) > 1:
            raise GraphBuildError(f"sections {sections} has more than one -1")
        if any(s < -1 for s in sections):
            raise GraphBuildError(f"sections {sections} holds a negative size")
        sizes = list(sections)
        if -1 in sizes:
            known = sum(s for s in sizes if s != -1)
            if dim >= 0:
                if known > dim:
                    raise GraphBuildError(f"sections {sections} need more than the {dim} elements along the axis")
                sizes[sizes.index(-1)] = dim - known
        elif dim >= 0 and sum(sizes) != dim:
            raise GraphBuildError(f"sections {sections} add up to {sum(sizes)}, but the axis has {dim} elements")
        return sizes
    if num <= 0:
        raise GraphBuildError("give num > 0 or a non-empty sections list")
    if dim < 0:
        return [-1] * num
    if dim % num:
        raise GraphBuildError(f"cannot split a dim of {dim} into {num} equal parts")
    return [dim // num] * num


def _split_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["X"]
    if not x.shape:
        raise GraphBuildError("cannot split a 0-D input")
    axis = norm_axis(attrs["axis"], len(x.shape), "split")
    sizes = split_sizes(x.shape[axis], attrs["num"], attrs["sections"])
    metas = []
    for s in sizes:
        shape = list(x.shape)
        shape[axis] = s
        metas.append((tuple(shape), x.dtype))
    return {"Out": metas}


def _split(a: dict[str, Any], x: np.ndarray) -> tuple[list[np.ndarray]]:
    axis = a["axis"] % x.ndim
    try:
        sizes = split_sizes(x.shape[axis], a["num"], a["sections"])
    except GraphBuildError as e:
        raise ExecutionError(f"split: {e}") from None
    return (np.split(x, np.cumsum(sizes)[:-1], axis=axis),)


register(
    OpDef(
        "split",
        ("X",),
        ("Out*",),
        _split,
        _split_infer,
        attrs={"num": 0, "sections": [], "axis": 0},
        # The gradient of a split is the concat of the pieces' gradients (zeros where none flowed).
        grad=lambda g: g.emit("concat", X=g.out_grad("Out"), Out=g.in_grad("X"), attrs={"axis": g.attr("axis")}),
    )
)
