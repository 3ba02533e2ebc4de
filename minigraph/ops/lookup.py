"""Ops that read rows by integer index: lookup_table (embedding), one_hot, gather, scatter.

Index inputs are never differentiated. Out-of-range indices are errors at run time naming
the op (numpy would wrap negative ones around silently). Gradients with respect to the
float inputs are dense arrays (Paddle's `is_sparse` selects a sparse gradient type, which
minigraph does not have: the numbers are the same).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import ExecutionError, GraphBuildError, OpTypeError
from minigraph.ops.common import register_with_grad, require_float
from minigraph.registry import OpDef, register, wired
from minigraph.types import normalize_dtype, shape_text

INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8")
INTEGER_OUTPUT = "integer output: not differentiable"


def _require_int(v: Any, what: str) -> None:
    if v.dtype not in INT_DTYPES:
        raise OpTypeError(f"{what} {v.name!r} must hold integer indices (int64), got {v.dtype}")


def _checked(op: str, idx: np.ndarray, size: int) -> np.ndarray:
    idx = idx.astype(np.int64, copy=False)
    bad = (idx < 0) | (idx >= size)
    if bad.any():
        raise ExecutionError(f"{op}: index {int(idx[bad][0])} is out of range [0, {size}) ({int(bad.sum())} bad)")
    return idx


# --- lookup_table (v1: Ids end in a 1; v2: any Ids) -------------------------------------------

LOOKUP_ATTRS = {"is_sparse": False, "is_distributed": False, "padding_idx": -1, "remote_prefetch": False}


def _lookup_ids_shape(op: str, ids_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape the output adds the embedding dim to: v1 drops Ids' trailing 1."""
    if op == "lookup_table_v2":
        return tuple(ids_shape)
    if not ids_shape or ids_shape[-1] not in (1, -1):
        raise GraphBuildError(f"Ids of lookup_table must end in a dimension of 1, got {shape_text(ids_shape)}")
    return tuple(ids_shape[:-1])


def _lookup_infer(op: str) -> Any:
    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        w, ids = ins["W"], ins["Ids"]
        require_float(w, f"{op}: W")
        _require_int(ids, f"{op}: Ids")
        if len(w.shape) != 2:
            raise GraphBuildError(f"W {w.name!r} must be 2-D [vocabulary, width], got {shape_text(w.shape)}")
        pad = attrs["padding_idx"]
        if pad != -1 and not 0 <= pad < w.shape[0]:
            raise GraphBuildError(f"padding_idx {pad} is outside the vocabulary [0, {w.shape[0]})")
        return {"Out": ((*_lookup_ids_shape(op, ids.shape), w.shape[1]), w.dtype)}

    return infer


def _lookup_kernel(op: str) -> Any:
    def kernel(a: dict[str, Any], w: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray]:
        idx = _checked(op, ids.reshape(-1), w.shape[0])
        out = w[idx]
        if a["padding_idx"] != -1:
            out[idx == a["padding_idx"]] = 0  # NOTE: a padding row reads as zeros, whatever W holds
        return (out.reshape(*_lookup_ids_shape(op, ids.shape), w.shape[1]),)

    return kernel


def _lookup_grad(a: dict[str, Any], w: np.ndarray, ids: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    idx = ids.reshape(-1).astype(np.int64, copy=False)
    rows = d.reshape(-1, w.shape[1])
    keep = idx != a["padding_idx"]  # the padding row gets no gradient
    dw = np.zeros_like(w)
    np.add.at(dw, idx[keep], rows[keep])
    return (dw,)


for _op in ("lookup_table", "lookup_table_v2"):
    register_with_grad(
        _op,
        ("W", "Ids"),
        ("Out",),
        _lookup_kernel(_op),
        _lookup_infer(_op),
        _lookup_grad,
        attrs=LOOKUP_ATTRS,
        reads=("W", "Ids"),
        diff=("W",),
        no_grad_inputs=("Ids",),
    )

# --- one_hot (v1: X ends in a 1; v2: any X) -----------------------------------------------


def _one_hot(op: str) -> None:
    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        x = ins["X"]
        _require_int(x, f"{op}: X")
        if attrs["depth"] < 1:
            raise GraphBuildError(f"depth must be a positive int, got {attrs['depth']}")
        lead = _lookup_ids_shape("lookup_table" if op == "one_hot" else "lookup_table_v2", x.shape)
        return {"Out": ((*lead, attrs["depth"]), normalize_dtype(attrs["dtype"]))}

    def kernel(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
        depth, idx = a["depth"], x.reshape(-1).astype(np.int64)
        inside = (idx >= 0) & (idx < depth)
        if not a["allow_out_of_range"] and not inside.all():
            raise ExecutionError(f"{op}: index {int(idx[~inside][0])} is out of range [0, {depth})")
        out = np.zeros((idx.size, depth), dtype=a["dtype"])
        out[np.nonzero(inside)[0], idx[inside]] = 1  # out-of-range rows stay all zero
        lead = x.shape[:-1] if op == "one_hot" else x.shape
        return (out.reshape(*lead, depth),)

    attrs = {"depth": 1, "dtype": "float32", "allow_out_of_range": False}
    register(OpDef(op, ("X",), ("Out",), kernel, infer, attrs=attrs, no_grad="integer input: nothing to differentiate"))


_one_hot("one_hot")
_one_hot("one_hot_v2")

# --- gather / scatter along axis 0 ----------------------------------------------------------


def _index_vector(op: str, index: Any) -> None:
    _require_int(index, f"{op}: Index")
    if len(index.shape) not in (1, 2) or (len(index.shape) == 2 and index.shape[1] != 1):
        raise GraphBuildError(f"Index {index.name!r} must be 1-D (or [K, 1]), got {shape_text(index.shape)}")


def _gather_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, index = ins["X"], ins["Index"]
    _index_vector("gather", index)
    if not x.shape:
        raise GraphBuildError(f"X {x.name!r} must have at least one dimension")
    return {"Out": ((index.shape[0], *x.shape[1:]), x.dtype)}


def _gather(a: dict[str, Any], x: np.ndarray, index: np.ndarray) -> tuple[np.ndarray]:
    return (x[_checked("gather", index.reshape(-1), x.shape[0])],)


def _gather_grad(a: dict[str, Any], x: np.ndarray, index: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    # NOTE: rows gathered more than once get the sum of their gradients, whatever
    # `overwrite` says (Paddle's overwrite=True keeps one of them, which is not the gradient).
    dx = np.zeros_like(x)
    np.add.at(dx, index.reshape(-1).astype(np.int64), d)
    return (dx,)


register_with_grad(
    "gather",
    ("X", "Index"),
    ("Out",),
    _gather,
    _gather_infer,
    _gather_grad,
    attrs={"overwrite": True},
    reads=("X", "Index"),
    no_grad_inputs=("Index",),
)


def _scatter_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, ids, updates = ins["X"], ins["Ids"], ins["Updates"]
    _index_vector("scatter", ids)
    if updates.dtype != x.dtype:
        raise GraphBuildError(f"Updates {updates.name!r} is {updates.dtype} but X {x.name!r} is {x.dtype}")
    if tuple(updates.shape[1:]) != tuple(x.shape[1:]) or len(updates.shape) != len(x.shape):
        raise GraphBuildError(
            f"Updates {updates.name!r} {shape_text(updates.shape)} must be [len(Ids)] + X's row shape "
            f"{shape_text(x.shape[1:])}"
        )
    return {"Out": (x.shape, x.dtype)}


def _winners(ids: np.ndarray, overwrite: bool) -> np.ndarray:
    """Which updates land: all (accumulate), or per row the last one written (overwrite)."""
    if not overwrite:
        return np.ones(ids.shape, bool)
    _, first_from_end = np.unique(ids[::-1], return_index=True)
    win = np.zeros(ids.shape, bool)
    win[ids.size - 1 - first_from_end] = True
    return win


def _scatter(a: dict[str, Any], x: np.ndarray, ids: np.ndarray, updates: np.ndarray) -> tuple[np.ndarray]:
    idx = _checked("scatter", ids.reshape(-1), x.shape[0])
    out = x.copy()
    win = _winners(idx, a["overwrite"])
    if a["overwrite"]:
        out[idx[win]] = updates[win]
    else:
        out[idx] = 0  # accumulate mode: the updated rows start from zero, as in Paddle
        np.add.at(out, idx, updates)
    return (out,)


def _scatter_grad(
    a: dict[str, Any], ids: np.ndarray, updates: np.ndarray, d: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    idx = ids.reshape(-1).astype(np.int64)
    dx = dupdates = None
    if wired(a, 0):
        dx = d.copy()
        dx[idx] = 0
    if wired(a, 1):
        # an update overwritten by a later one with the same index never reached Out
        dupdates = d[idx] * _winners(idx, a["overwrite"]).reshape(-1, *([1] * (d.ndim - 1)))
    return dx, dupdates


def _scatter_grad_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    d, u = ins["Out@GRAD"], ins["Updates"]
    return {"X@GRAD": (d.shape, d.dtype), "Updates@GRAD": (u.shape, u.dtype)}


register_with_grad(
    "scatter",
    ("X", "Ids", "Updates"),
    ("Out",),
    kernel=_scatter,
    infer=_scatter_infer,
    grad_kernel=_scatter_grad,
    attrs={"overwrite": True},
    reads=("Ids", "Updates"),
    diff=("X", "Updates"),
    grad_infer=_scatter_grad_infer,
    no_grad_inputs=("Ids",),
)
