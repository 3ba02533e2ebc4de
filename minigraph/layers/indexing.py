"""Builders over integer indices: embedding, one_hot, gather, scatter, where, argmax,
argmin, topk."""

from __future__ import annotations

from typing import Any

from minigraph.errors import GraphBuildError
from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper
from minigraph.param_attr import ParamAttr
from minigraph.types import normalize_dtype

__all__ = ["argmax", "argmin", "embedding", "embedding_v2", "gather", "one_hot", "scatter", "topk", "where"]


def embedding_table(
    helper: LayerHelper, size: Any, padding_idx: int | None, param_attr: Any, dtype: Any
) -> tuple[Variable, int]:
    """The [vocabulary, width] table parameter (`<layer>.w_0`, Xavier by default) and the
    padding_idx attr (-1 for none; a negative padding_idx counts from the end)."""
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise GraphBuildError(f"{helper.name}: size must be [vocabulary, width], got {size!r}")
    vocab = int(size[0])
    if padding_idx is not None and not -vocab <= padding_idx < vocab:
        raise GraphBuildError(f"{helper.name}: padding_idx {padding_idx} is outside the vocabulary of {vocab}")
    attr = ParamAttr.to_attr(param_attr)
    if attr is False:
        raise GraphBuildError(f"{helper.name}: param_attr=False is not allowed; an embedding needs its table")
    w = helper.create_parameter(attr, (vocab, int(size[1])), normalize_dtype(dtype))
    return w, -1 if padding_idx is None else padding_idx % vocab


def lookup(
    op: str,
    input: Variable,
    size: Any,
    is_sparse: bool,
    is_distributed: bool,
    padding_idx: int | None,
    param_attr: Any,
    dtype: Any,
) -> Variable:
    """A new embedding table read by `op` (lookup_table or lookup_table_v2)."""
    helper = LayerHelper("embedding")
    w, pad = embedding_table(helper, size, padding_idx, param_attr, dtype)
    attrs = {"is_sparse": bool(is_sparse), "is_distributed": bool(is_distributed), "padding_idx": pad}
    return helper.emit(op, {"W": w, "Ids": input}, attrs, dtype=w.dtype)


def _embedding(op: str, doc: str) -> Any:
    """An embedding builder over `op` (both share one signature, as in Paddle)."""

    def layer(
        input: Variable,
        size: Any,
        is_sparse: bool = False,
        is_distributed: bool = False,
        padding_idx: int | None = None,
        param_attr: Any = None,
        dtype: Any = "float32",
    ) -> Variable:
        return lookup(op, input, size, is_sparse, is_distributed, padding_idx, param_attr, dtype)

    layer.__name__ = layer.__qualname__ = "embedding"
    layer.__doc__ = doc
    return layer


embedding = _embedding(
    "lookup_table",
    """Rows of a [vocabulary, width] table: int64 ids [..., 1] -> [..., width] (fluid's
    `lookup_table`). Rows at `padding_idx` (negative: counted from the end) read as zeros and
    get no gradient. `is_sparse` is accepted; the gradient is a dense array either way.

        emb = mg.layers.embedding(word, size=[dict_size, 32], param_attr="shared_w")
    """,
)
embedding_v2 = _embedding(
    "lookup_table_v2",
    """fluid 1.8's `fluid.embedding` (`lookup_table_v2`): like `layers.embedding`, but ids of
    any shape, without the trailing 1: int64 [...] -> [..., width].""",
)


def one_hot(input: Variable, depth: int, allow_out_of_range: bool = False) -> Variable:
    """int64 [..., 1] -> float32 [..., depth] with a 1 at each index. An index outside
    [0, depth) is an error, or (allow_out_of_range) a row of zeros."""
    attrs = {"depth": int(depth), "allow_out_of_range": bool(allow_out_of_range), "dtype": "float32"}
    return LayerHelper("one_hot").emit("one_hot", {"X": input}, attrs, dtype="float32")


def gather(input: Variable, index: Variable, overwrite: bool = True) -> Variable:
    """Rows `index` (int, 1-D) of `input`. Rows gathered twice get the sum of both
    gradients (`overwrite` is accepted; Paddle's overwrite=True would keep only one)."""
    return LayerHelper("gather").emit("gather", {"X": input, "Index": index}, {"overwrite": bool(overwrite)})


def scatter(
    input: Variable, index: Variable, updates: Variable, name: str | None = None, overwrite: bool = True
) -> Variable:
    """A copy of `input` with rows `index` replaced by the rows of `updates` (overwrite: the
    last of repeated indices wins), or set to the sum of their updates (overwrite=False)."""
    helper = LayerHelper("scatter", name)
    return helper.emit("scatter", {"X": input, "Ids": index, "Updates": updates}, {"overwrite": bool(overwrite)})


def where(condition: Variable, x: Variable | None = None, y: Variable | None = None) -> Variable:
    """With x and y: elementwise `x if condition else y` (Paddle 2's `where`). With the
    condition alone: the int64 [count, rank] coordinates of its true elements (fluid's)."""
    helper = LayerHelper("where")
    if x is None and y is None:
        return helper.emit("where_index", {"Condition": condition}, dtype="int64")
    if x is None or y is None:
        raise GraphBuildError("where: give both x and y, or neither")
    return helper.emit("where", {"Condition": condition, "X": x, "Y": y}, dtype=x.dtype)


def _arg(op: str, x: Variable, axis: int) -> Variable:
    return LayerHelper(op).emit(op, {"X": x}, {"axis": int(axis)}, dtype="int64")


def argmax(x: Variable, axis: int = 0) -> Variable:
    """int64 index of the largest value along `axis` (the first one on ties)."""
    return _arg("arg_max", x, axis)


def argmin(x: Variable, axis: int = 0) -> Variable:
    """int64 index of the smallest value along `axis` (the first one on ties)."""
    return _arg("arg_min", x, axis)


def topk(input: Variable, k: int, name: str | None = None) -> tuple[Variable, Variable]:
    """(values, int64 indices) of the k largest entries along the last axis, largest
    first; equal values keep their order. The gradient flows to the chosen entries."""
    helper = LayerHelper("top_k", name)
    values = helper.create_tmp(input.dtype)
    indices = helper.create_tmp("int64", stop_gradient=True)
    helper.append_op("top_k", {"X": input}, {"Out": values, "Indices": indices}, {"k": int(k)})
    return values, indices
