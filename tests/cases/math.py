"""Cases for minigraph/ops/math.py."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(1)
x23 = rng.normal(size=(2, 3))
y3 = rng.normal(size=(3,))
x234 = rng.normal(size=(2, 3, 4))
y3b = rng.normal(size=(3,))
pos23 = rng.uniform(0.5, 2.0, size=(2, 3))


def _axis(y, xnd, axis):
    return y if axis == -1 else y.reshape(y.shape + (1,) * (xnd - axis - y.ndim))


def _bin(fn):
    return lambda i, a: {"Out": fn(i["X"], _axis(i["Y"], i["X"].ndim, a.get("axis", -1)))}


CASES = []
for op, fn, y in [
    ("elementwise_add", np.add, y3),
    ("elementwise_sub", np.subtract, y3),
    ("elementwise_mul", np.multiply, y3),
    ("elementwise_div", np.divide, pos23[0]),
    ("elementwise_max", np.maximum, y3),
    ("elementwise_min", np.minimum, y3),
]:
    CASES += [
        OpCase(op, {"X": x23, "Y": y}, ref=_bin(fn), name="broadcast"),
        OpCase(op, {"X": x23, "Y": x23[::-1] + 0.3}, ref=_bin(fn), name="same_shape"),
        OpCase(op, {"X": x234, "Y": np.abs(y3b) + 0.5}, {"axis": 1}, ref=_bin(fn), name="axis1"),
    ]

CASES += [
    OpCase("scale", {"X": x23}, {"scale": 2.5, "bias": 0.5}, ref=lambda i, a: {"Out": 2.5 * i["X"] + 0.5}),
    OpCase(
        "scale",
        {"X": x23},
        {"scale": 2.5, "bias": 0.5, "bias_after_scale": False},
        ref=lambda i, a: {"Out": 2.5 * (i["X"] + 0.5)},
        name="bias_before",
    ),
    OpCase("mul", {"X": x23, "Y": rng.normal(size=(3, 4))}, ref=lambda i, a: {"Out": i["X"] @ i["Y"]}),
    OpCase(
        "mul",
        {"X": x234, "Y": rng.normal(size=(12, 2))},
        ref=lambda i, a: {"Out": i["X"].reshape(2, 12) @ i["Y"]},
        name="flatten",
    ),
    OpCase(
        "mul",
        {"X": x234, "Y": rng.normal(size=(4, 5))},
        {"x_num_col_dims": 2},
        ref=lambda i, a: {"Out": i["X"] @ i["Y"]},
        name="x_num_col_dims2",
    ),
    OpCase("matmul", {"X": x23, "Y": rng.normal(size=(3, 4))}, ref=lambda i, a: {"Out": i["X"] @ i["Y"]}),
    OpCase(
        "matmul",
        {"X": rng.normal(size=(3, 2)), "Y": rng.normal(size=(4, 3))},
        {"transpose_X": True, "transpose_Y": True, "alpha": 0.5},
        ref=lambda i, a: {"Out": 0.5 * i["X"].T @ i["Y"].T},
        name="transposed_alpha",
    ),
    OpCase(
        "matmul",
        {"X": rng.normal(size=(2, 2, 3)), "Y": rng.normal(size=(3, 4))},
        ref=lambda i, a: {"Out": i["X"] @ i["Y"]},
        name="batched_broadcast",
    ),
    OpCase(
        "matmul",
        {"X": y3, "Y": rng.normal(size=(3, 4))},
        ref=lambda i, a: {"Out": i["X"] @ i["Y"]},
        name="vector_matrix",
    ),
    OpCase("sum", {"X": [x23, 2 * x23, x23 + 1]}, ref=lambda i, a: {"Out": sum(i["X"])}),
    OpCase(
        "cast",
        {"X": x23},
        {"in_dtype": "float64", "out_dtype": "float32"},
        ref=lambda i, a: {"Out": i["X"].astype("float32")},
        eps=1e-2,
        grad_rtol=1e-3,
        grad_atol=1e-6,
    ),
    OpCase(
        "cast",
        {"X": np.array([[1, 2], [3, 4]])},
        {"in_dtype": "int64", "out_dtype": "float32"},
        ref=lambda i, a: {"Out": i["X"].astype("float32")},
        name="int_to_float",
    ),
    OpCase("assign", {"X": x23}, ref=lambda i, a: {"Out": i["X"]}),
    OpCase(
        "fill_constant",
        {},
        {"shape": [2, 3], "dtype": "float32", "value": 1.5},
        ref=lambda i, a: {"Out": np.full((2, 3), 1.5, "float32")},
    ),
    OpCase("fill_any_like", {"X": x23}, {"value": 7.0}, ref=lambda i, a: {"Out": np.full((2, 3), 7.0)}),
    OpCase("fill_zeros_like", {"X": x23}, ref=lambda i, a: {"Out": np.zeros((2, 3))}),
]
CASES += [
    OpCase(
        "assign_value",
        {},
        {"shape": [2, 2], "dtype": "float32", "values": [1.0, -2.5, 3.0, 4.0]},
        ref=lambda i, a: {"Out": np.array([[1.0, -2.5], [3.0, 4.0]], "float32")},
    ),
    OpCase(
        "assign_value",
        {},
        {"shape": [3], "dtype": "int64", "values": [1, 2, 3]},
        ref=lambda i, a: {"Out": np.array([1, 2, 3])},
        name="int64",
    ),
]
