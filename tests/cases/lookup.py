"""Cases for minigraph/ops/indexing.py: index inputs are int64 and never differentiated;
repeated indices are included where the gradient must add them up."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(11)
w53 = rng.normal(size=(5, 3))
ids = np.array([[0], [3], [3], [4]])
ids_v2 = np.array([[0, 2], [4, 4]])
x43 = rng.normal(size=(4, 3))
x234 = rng.normal(size=(2, 3, 4))


def _lookup(i, a, v2=False):
    idx = i["Ids"] if v2 else i["Ids"][..., 0]
    out = i["W"][idx]
    if a.get("padding_idx", -1) != -1:
        out = np.where((idx == a["padding_idx"])[..., None], 0.0, out)
    return {"Out": out}


def _one_hot(i, a):
    idx = i["X"][..., 0]
    out = np.zeros((*idx.shape, a["depth"]))
    for pos in np.ndindex(idx.shape):
        if 0 <= idx[pos] < a["depth"]:
            out[(*pos, idx[pos])] = 1
    return {"Out": out}


def _scatter(i, a):
    out = i["X"].copy()
    if a.get("overwrite", True):
        for k, row in enumerate(i["Ids"]):
            out[row] = i["Updates"][k]
    else:
        out[i["Ids"]] = 0
        for k, row in enumerate(i["Ids"]):
            out[row] += i["Updates"][k]
    return {"Out": out}


def _top_k(i, a):
    order = np.argsort(-i["X"], axis=-1, kind="stable")[..., : a["k"]]
    return {"Out": np.take_along_axis(i["X"], order, -1), "Indices": order}


cond = rng.random((2, 3, 4)) > 0.5
distinct = rng.permutation(24).reshape(2, 3, 4) / 7.0  # no ties: top_k's gradient is well defined

CASES = [
    OpCase("lookup_table", {"W": w53, "Ids": ids}, ref=_lookup),
    OpCase("lookup_table", {"W": w53, "Ids": ids}, {"padding_idx": 3}, ref=_lookup, name="padding_idx"),
    OpCase(
        "lookup_table_v2",
        {"W": w53, "Ids": ids_v2},
        {"padding_idx": 0, "is_sparse": True},
        ref=lambda i, a: _lookup(i, a, v2=True),
    ),
    OpCase("one_hot", {"X": np.array([[1], [0], [3]])}, {"depth": 4}, ref=_one_hot),
    OpCase(
        "one_hot",
        {"X": np.array([[[1], [7]], [[-1], [2]]])},
        {"depth": 3, "allow_out_of_range": True},
        ref=_one_hot,
        name="out_of_range_rows_are_zero",
    ),
    OpCase(
        "one_hot_v2",
        {"X": np.array([2, 0])},
        {"depth": 3, "dtype": "float64"},
        ref=lambda i, a: {"Out": np.eye(3)[i["X"]]},
    ),
    OpCase("gather", {"X": x43, "Index": np.array([3, 1, 1])}, ref=lambda i, a: {"Out": i["X"][i["Index"]]}),
    OpCase(
        "gather",
        {"X": x234, "Index": np.array([[1], [0]])},
        ref=lambda i, a: {"Out": i["X"][i["Index"][:, 0]]},
        name="index_k1",
    ),
    OpCase(
        "scatter",
        {"X": x43, "Ids": np.array([2, 0, 2]), "Updates": rng.normal(size=(3, 3))},
        ref=_scatter,
        name="overwrite_last_wins",
    ),
    OpCase(
        "scatter",
        {"X": x43, "Ids": np.array([2, 0, 2]), "Updates": rng.normal(size=(3, 3))},
        {"overwrite": False},
        ref=_scatter,
        name="accumulate",
    ),
    OpCase(
        "where",
        {"Condition": cond, "X": x234, "Y": rng.normal(size=(2, 3, 4))},
        ref=lambda i, a: {"Out": np.where(i["Condition"], i["X"], i["Y"])},
    ),
    OpCase(
        "where",
        {"Condition": cond, "X": x234, "Y": rng.normal(size=(4,))},
        ref=lambda i, a: {"Out": np.where(i["Condition"], i["X"], i["Y"])},
        name="broadcast_y",
    ),
    OpCase("where_index", {"Condition": cond}, ref=lambda i, a: {"Out": np.argwhere(i["Condition"])}),
    OpCase("arg_max", {"X": x234}, {"axis": 1}, ref=lambda i, a: {"Out": np.argmax(i["X"], 1)}),
    OpCase(
        "arg_max",
        {"X": x234},
        {"axis": -1, "keepdims": True, "dtype": "int32"},
        ref=lambda i, a: {"Out": np.argmax(i["X"], -1)[..., None]},
        name="keepdims_int32",
    ),
    OpCase("arg_min", {"X": x234}, {"axis": 0}, ref=lambda i, a: {"Out": np.argmin(i["X"], 0)}),
    OpCase(
        "arg_min",
        {"X": x234},
        {"flatten": True},
        ref=lambda i, a: {"Out": np.asarray(np.argmin(i["X"]))},
        name="flatten",
    ),
    OpCase("top_k", {"X": distinct}, {"k": 2}, ref=_top_k),
    OpCase(
        "top_k",
        {"X": np.array([[1.0, 3.0, 3.0, 2.0]])},
        {"k": 3},
        ref=lambda i, a: {"Out": np.array([[3.0, 3.0, 2.0]]), "Indices": np.array([[1, 2, 3]])},
        grad=(),
        name="ties_lower_index_first",
    ),
]
