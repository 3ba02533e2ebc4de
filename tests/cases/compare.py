"""Cases for minigraph/ops/compare.py (no gradients: boolean and counter outputs)."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(17)
a = rng.integers(0, 3, size=(2, 3)).astype(np.float64)
b = rng.integers(0, 3, size=(2, 3)).astype(np.float64)
row = np.array([1.0, 0.0, 2.0])

CASES = [
    OpCase(op, {"X": a, "Y": b}, ref=lambda i, at, f=f: {"Out": f(i["X"], i["Y"])})
    for op, f in (
        ("less_than", np.less),
        ("less_equal", np.less_equal),
        ("greater_than", np.greater),
        ("greater_equal", np.greater_equal),
        ("equal", np.equal),
        ("not_equal", np.not_equal),
    )
] + [
    OpCase("less_than", {"X": a, "Y": row}, ref=lambda i, at: {"Out": i["X"] < i["Y"]}, name="broadcast"),
    OpCase(
        "greater_equal",
        {"X": a, "Y": np.array([1.0, 2.0])},
        {"axis": 0},
        ref=lambda i, at: {"Out": i["X"] >= i["Y"][:, None]},
        name="axis0",
    ),
    OpCase("increment", {"X": np.array([4], dtype=np.int64)}, {"step": 2.0}, ref=lambda i, at: {"Out": i["X"] + 2}),
    OpCase("increment", {"X": np.array([0.5])}, ref=lambda i, at: {"Out": i["X"] + 1}, name="float"),
]
