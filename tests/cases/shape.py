"""Cases for minigraph/ops/shape.py. XShape (a zero-size shape record) is left out of the
value checks: it holds no data."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(4)
x234 = rng.normal(size=(2, 3, 4))
x23 = rng.normal(size=(2, 3))
x2 = rng.normal(size=(2, 2))
x25 = rng.normal(size=(2, 5))
x26 = rng.normal(size=(2, 6))

OUT = ("Out",)

CASES = [
    OpCase("reshape2", {"X": x234}, {"shape": [4, 6]}, ref=lambda i, a: {"Out": i["X"].reshape(4, 6)}, outputs=OUT),
    OpCase(
        "reshape2",
        {"X": x234},
        {"shape": [0, -1]},
        ref=lambda i, a: {"Out": i["X"].reshape(2, 12)},
        outputs=OUT,
        name="copy0_infer",
    ),
    OpCase(
        "reshape2",
        {"X": x234},
        {"shape": [-1, 0, 2, 2]},
        ref=lambda i, a: {"Out": i["X"].reshape(2, 3, 2, 2)},
        outputs=OUT,
        name="infer_first_copy_middle",
    ),
    OpCase(
        "reshape2",
        {"X": x234},
        {"shape": [24]},
        ref=lambda i, a: {"Out": i["X"].reshape(24), "XShape": np.empty((0, 2, 3, 4))},
        name="xshape_records_shape",
        grad=(),
    ),
    OpCase(
        "transpose2",
        {"X": x234},
        {"axis": [2, 0, 1]},
        ref=lambda i, a: {"Out": i["X"].transpose(2, 0, 1)},
        outputs=OUT,
    ),
    OpCase("transpose2", {"X": x23}, {"axis": [1, 0]}, ref=lambda i, a: {"Out": i["X"].T}, outputs=OUT, name="matrix"),
    OpCase("flatten2", {"X": x234}, ref=lambda i, a: {"Out": i["X"].reshape(2, 12)}, outputs=OUT),
    OpCase(
        "flatten2", {"X": x234}, {"axis": 2}, ref=lambda i, a: {"Out": i["X"].reshape(6, 4)}, outputs=OUT, name="axis2"
    ),
    OpCase(
        "flatten2", {"X": x234}, {"axis": 0}, ref=lambda i, a: {"Out": i["X"].reshape(1, 24)}, outputs=OUT, name="axis0"
    ),
    OpCase(
        "flatten2", {"X": x234}, {"axis": 3}, ref=lambda i, a: {"Out": i["X"].reshape(24, 1)}, outputs=OUT, name="axis3"
    ),
    OpCase("concat", {"X": [x23, x2, x25]}, {"axis": 1}, ref=lambda i, a: {"Out": np.concatenate(i["X"], axis=1)}),
    OpCase(
        "concat",
        {"X": [x23, x23[::-1] * 2]},
        {"axis": -2},
        ref=lambda i, a: {"Out": np.concatenate(i["X"], axis=0)},
        name="neg_axis",
    ),
    OpCase("split", {"X": x26}, {"num": 3, "axis": 1}, ref=lambda i, a: {"Out": np.split(i["X"], 3, axis=1)}),
    OpCase(
        "split",
        {"X": x26},
        {"sections": [1, -1, 2], "axis": -1},
        ref=lambda i, a: {"Out": np.split(i["X"], [1, 4], axis=1)},
        name="sections_infer",
    ),
    OpCase(
        "split",
        {"X": x234},
        {"sections": [1, 2], "axis": 1},
        ref=lambda i, a: {"Out": np.split(i["X"], [1], axis=1)},
        name="sections_axis1",
    ),
]
