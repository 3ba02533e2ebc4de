"""Cases for minigraph/ops/classification.py. cos_sim's XNorm/YNorm are intermediate
outputs (as in Paddle): values are checked, gradients flow through Out only."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(14)
logits = rng.normal(scale=3.0, size=(3, 4))
targets = rng.integers(0, 2, size=(3, 4)).astype(np.float64)
with_ignored = np.where(rng.random((3, 4)) < 0.3, -100.0, targets)


def _sce(i, a):
    x, z = i["X"], i["Label"]
    loss = np.log(1 + np.exp(-np.abs(x))) + np.maximum(x, 0) - x * z
    keep = z != a.get("ignore_index", -100)
    loss = np.where(keep, loss, 0.0)
    return {"Out": loss / max(keep.sum(), 1) if a.get("normalize") else loss}


def _cos(i, a):
    x, y = i["X"].reshape(len(i["X"]), -1), i["Y"].reshape(len(i["Y"]), -1)
    xn, yn = np.linalg.norm(x, axis=1, keepdims=True), np.linalg.norm(y, axis=1, keepdims=True)
    return {"Out": (x * y).sum(1, keepdims=True) / (xn * yn), "XNorm": xn, "YNorm": yn}


CASES = [
    OpCase("sigmoid_cross_entropy_with_logits", {"X": logits, "Label": targets}, ref=_sce),
    OpCase(
        "sigmoid_cross_entropy_with_logits",
        {"X": logits, "Label": with_ignored},
        {"normalize": True},
        ref=_sce,
        name="ignore_index_normalize",
    ),
    OpCase(
        "sigmoid_cross_entropy_with_logits",
        {"X": np.array([[-800.0, 800.0]]), "Label": np.array([[1.0, 0.0]])},
        ref=lambda i, a: {"Out": np.array([[800.0, 800.0]])},
        grad=(),
        name="no_overflow",
    ),
    OpCase(
        "label_smooth",
        {"X": np.eye(4)[[0, 2, 3]]},
        {"epsilon": 0.1},
        ref=lambda i, a: {"Out": 0.9 * i["X"] + 0.1 / 4},
    ),
    OpCase(
        "label_smooth",
        {"X": np.eye(3)[[1, 0]], "PriorDist": np.array([[0.5, 0.3, 0.2]])},
        {"epsilon": 0.2},
        ref=lambda i, a: {"Out": 0.8 * i["X"] + 0.2 * i["PriorDist"]},
        name="prior",
    ),
    OpCase("cos_sim", {"X": rng.normal(size=(3, 4)), "Y": rng.normal(size=(3, 4))}, ref=_cos, outputs=("Out",)),
    OpCase(
        "cos_sim",
        {"X": rng.normal(size=(3, 2, 2)), "Y": rng.normal(size=(1, 2, 2))},
        ref=_cos,
        outputs=("Out",),
        name="one_y_row",
    ),
    OpCase(
        "cos_sim",
        {"X": rng.normal(size=(2, 3)), "Y": rng.normal(size=(2, 3))},
        ref=_cos,
        grad=(),
        name="norms",
    ),
]
