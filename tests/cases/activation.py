"""Cases for minigraph/ops/activation.py: forward against numpy, gradient in float64.
Inputs keep clear of kinks (relu, leaky_relu and abs at 0) so central differences are valid."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(2)


def _away_from_zero(shape, lo=0.1):
    """Values of both signs with |v| >= lo, so kinks at 0 are never straddled."""
    return rng.uniform(lo, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


x234 = _away_from_zero((2, 3, 4))
x35 = _away_from_zero((3, 5))
pos34 = rng.uniform(0.2, 3.0, size=(3, 4))
wide = rng.normal(scale=3.0, size=(2, 3, 5))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


CASES = [
    OpCase("relu", {"X": x234}, ref=lambda i, a: {"Out": np.maximum(i["X"], 0)}),
    OpCase("sigmoid", {"X": x234}, ref=lambda i, a: {"Out": _sigmoid(i["X"])}),
    OpCase(
        "sigmoid",
        {"X": np.array([-800.0, -40.0, 0.0, 40.0, 800.0])},
        ref=lambda i, a: {"Out": np.array([0.0, np.exp(-40.0) / (1 + np.exp(-40.0)), 0.5, 1.0, 1.0])},
        grad=(),
        name="extremes_no_overflow",
        rtol=1e-6,
        atol=0.0,
    ),
    OpCase("tanh", {"X": x234}, ref=lambda i, a: {"Out": np.tanh(i["X"])}),
    OpCase(
        "leaky_relu",
        {"X": x234},
        ref=lambda i, a: {"Out": np.where(i["X"] > 0, i["X"], 0.02 * i["X"])},
        name="default_alpha",
    ),
    OpCase(
        "leaky_relu",
        {"X": x35},
        {"alpha": 0.3},
        ref=lambda i, a: {"Out": np.where(i["X"] > 0, i["X"], 0.3 * i["X"])},
        name="alpha0.3",
    ),
    OpCase("softmax", {"X": x35}, ref=lambda i, a: {"Out": _softmax(i["X"], -1)}),
    OpCase(
        "softmax",
        {"X": wide},
        {"axis": 1},
        ref=lambda i, a: {"Out": _softmax(i["X"], 1)},
        name="axis1",
    ),
    OpCase(
        "softmax",
        {"X": np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]])},
        ref=lambda i, a: {"Out": _softmax(i["X"] - i["X"].max(axis=-1, keepdims=True), -1)},
        name="large_logits_stable",
    ),
    OpCase("log_softmax", {"X": x35}, ref=lambda i, a: {"Out": np.log(_softmax(i["X"], -1))}),
    OpCase(
        "log_softmax",
        {"X": wide},
        {"axis": 0},
        ref=lambda i, a: {"Out": np.log(_softmax(i["X"], 0))},
        name="axis0",
    ),
    OpCase(
        "log_softmax",
        {"X": np.array([[1000.0, 0.0, -1000.0]])},
        ref=lambda i, a: {"Out": np.array([[0.0, -1000.0, -2000.0]])},
        grad=(),
        name="large_logits_stable",
    ),
    OpCase("exp", {"X": x234}, ref=lambda i, a: {"Out": np.exp(i["X"])}),
    OpCase("log", {"X": pos34}, ref=lambda i, a: {"Out": np.log(i["X"])}),
    OpCase("sqrt", {"X": pos34}, ref=lambda i, a: {"Out": np.sqrt(i["X"])}),
    OpCase("square", {"X": x234}, ref=lambda i, a: {"Out": i["X"] ** 2}),
    OpCase("abs", {"X": x234}, ref=lambda i, a: {"Out": np.abs(i["X"])}),
]
