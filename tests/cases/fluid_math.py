"""Cases for the fluid-era additions to minigraph/ops/math.py (elementwise_pow, clip) and
minigraph/ops/activation.py (pow, cos, sin, floor, ceil). Inputs keep clear of kinks: clip's
bounds and the integers where floor/ceil jump."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(13)
pos34 = rng.uniform(0.5, 2.0, size=(3, 4))
x34 = rng.normal(size=(3, 4))
off_integers = np.floor(rng.uniform(-3, 3, size=(3, 4))) + rng.uniform(0.1, 0.9, size=(3, 4))
away_from_bounds = np.array([[-2.0, -0.7, -0.2], [0.3, 0.65, 1.5]])

CASES = [
    OpCase(
        "elementwise_pow",
        {"X": pos34, "Y": rng.uniform(-1.5, 2.0, size=(3, 4))},
        ref=lambda i, a: {"Out": i["X"] ** i["Y"]},
    ),
    OpCase(
        "elementwise_pow",
        {"X": pos34, "Y": rng.uniform(0.5, 2.0, size=(3,))},
        {"axis": 0},
        ref=lambda i, a: {"Out": i["X"] ** i["Y"][:, None]},
        name="axis0",
    ),
    OpCase(
        "clip",
        {"X": away_from_bounds},
        {"min": -0.5, "max": 0.6},
        ref=lambda i, a: {"Out": np.clip(i["X"], -0.5, 0.6)},
    ),
    OpCase("pow", {"X": pos34}, {"factor": 2.5}, ref=lambda i, a: {"Out": i["X"] ** 2.5}),
    OpCase("pow", {"X": x34}, {"factor": 3.0}, ref=lambda i, a: {"Out": i["X"] ** 3}, name="odd_negative"),
    OpCase("cos", {"X": x34}, ref=lambda i, a: {"Out": np.cos(i["X"])}),
    OpCase("sin", {"X": x34}, ref=lambda i, a: {"Out": np.sin(i["X"])}),
    OpCase("floor", {"X": off_integers}, ref=lambda i, a: {"Out": np.floor(i["X"])}),
    OpCase("ceil", {"X": off_integers}, ref=lambda i, a: {"Out": np.ceil(i["X"])}),
]
