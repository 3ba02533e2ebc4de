"""Cases for minigraph/ops/manip.py (XShape holds no data and is left out of the checks)."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(12)
x234 = rng.normal(size=(2, 3, 4))
x23 = rng.normal(size=(2, 3))
x1315 = rng.normal(size=(1, 3, 1, 5))
OUT = ("Out",)

CASES = [
    OpCase(
        "slice",
        {"Input": x234},
        {"axes": [1, 2], "starts": [1, 0], "ends": [3, -1]},
        ref=lambda i, a: {"Out": i["Input"][:, 1:3, 0:-1]},
    ),
    OpCase(
        "slice",
        {"Input": x234},
        {"axes": [0, 2], "starts": [-1, 2], "ends": [100, 3], "decrease_axis": [0]},
        ref=lambda i, a: {"Out": i["Input"][-1, :, 2:3]},
        name="clamped_negative_decrease",
    ),
    OpCase("stack", {"X": [x23, x23 * 2, -x23]}, {"axis": 1}, ref=lambda i, a: {"Y": np.stack(i["X"], axis=1)}),
    OpCase("stack", {"X": [x23, x23 + 1]}, {"axis": -1}, ref=lambda i, a: {"Y": np.stack(i["X"], -1)}, name="axis_-1"),
    OpCase(
        "unsqueeze2",
        {"X": x23},
        {"axes": [0, -1]},
        ref=lambda i, a: {"Out": i["X"].reshape(1, 2, 3, 1)},
        outputs=OUT,
    ),
    OpCase("squeeze2", {"X": x1315}, {"axes": []}, ref=lambda i, a: {"Out": i["X"].reshape(3, 5)}, outputs=OUT),
    OpCase(
        "squeeze2",
        {"X": x1315},
        {"axes": [2, 1]},
        ref=lambda i, a: {"Out": i["X"].reshape(1, 3, 5)},
        outputs=OUT,
        name="listed_axes_non1_kept",
    ),
    OpCase("expand", {"X": x23}, {"expand_times": [2, 3]}, ref=lambda i, a: {"Out": np.tile(i["X"], (2, 3))}),
    OpCase(
        "pad",
        {"X": x23},
        {"paddings": [1, 0, 2, 3], "pad_value": 0.5},
        ref=lambda i, a: {"Out": np.pad(i["X"], [(1, 0), (2, 3)], constant_values=0.5)},
    ),
]
