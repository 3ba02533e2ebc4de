"""Cases for minigraph/ops/reduction.py. Full reductions give 0-D outputs (shape ())."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(3)
x234 = rng.normal(size=(2, 3, 4))
x35 = rng.normal(size=(3, 5))
# Distinct values spaced well apart: no ties for reduce_max, and perturbations never reorder.
distinct = (rng.permutation(24).reshape(2, 3, 4) - 11.5) * 0.5


def _ref(fn):
    def ref(i, a):
        x = i["X"]
        dims = a.get("dim", [])
        axis = None if (a.get("reduce_all") or not dims) else tuple(dims)
        return {"Out": np.asarray(fn(x, axis=axis, keepdims=a.get("keep_dim", False)))}

    return ref


CASES = [
    OpCase("mean", {"X": x234}, ref=lambda i, a: {"Out": np.asarray(i["X"].mean())}),
    OpCase(
        "mean",
        {"X": np.array([[1.5, -2.0]], dtype=np.float32)},
        ref=lambda i, a: {"Out": np.float32(-0.25)},
        name="f32",
    ),
]

for op, fn, x in [("reduce_sum", np.sum, x234), ("reduce_mean", np.mean, x234), ("reduce_max", np.max, distinct)]:
    CASES += [
        OpCase(op, {"X": x}, {"dim": [1]}, ref=_ref(fn), name="dim1"),
        OpCase(op, {"X": x}, {"dim": [0, -1], "keep_dim": True}, ref=_ref(fn), name="dims0_-1_keep"),
        OpCase(op, {"X": x}, {"reduce_all": True}, ref=_ref(fn), name="all_0d"),
        OpCase(op, {"X": x}, {"dim": [], "keep_dim": True}, ref=_ref(fn), name="empty_dim_all_keep"),
        OpCase(op, {"X": x35}, {"dim": [-1]}, ref=_ref(fn), name="last"),
    ]

# reduce_max's gradient at a tie is a choice (split evenly, see the NOTE in the op); the
# forward is checked here, the tie-splitting gradient in tests/test_layers_basic.py.
CASES += [
    OpCase(
        "reduce_max",
        {"X": np.array([[1.0, 3.0, 3.0], [2.0, -1.0, 0.0]])},
        {"dim": [1]},
        ref=lambda i, a: {"Out": np.array([3.0, 2.0])},
        grad=(),
        name="ties_forward",
    ),
]
