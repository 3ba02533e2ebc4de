"""Loss and metric builders: cross_entropy, softmax_with_cross_entropy,
sigmoid_cross_entropy_with_logits, square_error_cost, label_smooth, cos_sim, accuracy."""

from __future__ import annotations

from typing import Any

from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper

__all__ = [
    "accuracy",
    "cos_sim",
    "cross_entropy",
    "label_smooth",
    "sigmoid_cross_entropy_with_logits",
    "softmax_with_cross_entropy",
    "square_error_cost",
]


def cross_entropy(
    input: Variable, label: Variable, soft_label: bool = False, ignore_index: int = -100, name: str | None = None
) -> Variable:
    """-log(input[label]) per row, shape [N, 1], where `input` holds probabilities.

    Hard labels are int64 [N, 1]; with soft_label=True `label` is a float [N, C] distribution
    and the loss is -sum(label * log(input))."""
    attrs = {"soft_label": bool(soft_label), "ignore_index": int(ignore_index)}
    return LayerHelper("cross_entropy", name).emit("cross_entropy", {"X": input, "Label": label}, attrs, out="Y")


def softmax_with_cross_entropy(
    logits: Variable,
    label: Variable,
    soft_label: bool = False,
    axis: int = -1,
    ignore_index: int = -100,
    numeric_stable_mode: bool = True,
    return_softmax: bool = False,
) -> Any:
    """Cross entropy of softmax(logits) along `axis`, fused and numerically stable; returns
    the loss (shape of logits with 1 in `axis`), or (loss, softmax) with return_softmax.

    Example: `loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))`."""
    helper = LayerHelper("softmax_with_cross_entropy")
    softmax = helper.create_tmp(logits.dtype)
    loss = helper.create_tmp(logits.dtype)
    helper.append_op(
        "softmax_with_cross_entropy",
        {"Logits": logits, "Label": label},
        {"Softmax": softmax, "Loss": loss},
        {
            "soft_label": bool(soft_label),
            "ignore_index": int(ignore_index),
            "numeric_stable_mode": bool(numeric_stable_mode),
            "axis": int(axis),
        },
    )
    return (loss, softmax) if return_softmax else loss


def square_error_cost(input: Variable, label: Variable) -> Variable:
    """(input - label) ** 2 elementwise, built from elementwise_sub and square as in Paddle."""
    helper = LayerHelper("square_error_cost")
    return helper.emit("square", {"X": helper.emit("elementwise_sub", {"X": input, "Y": label})})


def accuracy(
    input: Variable, label: Variable, k: int = 1, correct: Variable | None = None, total: Variable | None = None
) -> Variable:
    """Fraction of rows whose label is among the top-k scores of `input` (a 0-D float32).

    `correct` and `total` (int32, 0-D) are filled with the counts when given."""
    helper = LayerHelper("accuracy")
    acc = helper.create_tmp("float32", stop_gradient=True)
    correct = correct if correct is not None else helper.create_tmp("int32", stop_gradient=True)
    total = total if total is not None else helper.create_tmp("int32", stop_gradient=True)
    helper.append_op(
        "accuracy",
        {"X": input, "Label": label},
        {"Accuracy": acc, "Correct": correct, "Total": total},
        {"k": int(k)},
    )
    return acc


def sigmoid_cross_entropy_with_logits(
    x: Variable, label: Variable, ignore_index: int = -100, name: str | None = None, normalize: bool = False
) -> Variable:
    """Elementwise binary cross entropy of sigmoid(x) against float labels in [0, 1],
    computed stably from the logits. Elements whose label equals `ignore_index` cost 0;
    `normalize` divides by the number of the others."""
    attrs = {"ignore_index": int(ignore_index), "normalize": bool(normalize)}
    helper = LayerHelper("sigmoid_cross_entropy_with_logits", name)
    return helper.emit("sigmoid_cross_entropy_with_logits", {"X": x, "Label": label}, attrs)


def label_smooth(
    label: Variable,
    prior_dist: Variable | None = None,
    epsilon: float = 0.1,
    dtype: str = "float32",
    name: str | None = None,
) -> Variable:
    """(1 - epsilon) * label + epsilon * prior_dist (uniform over the classes by default),
    for one-hot float labels."""
    inputs = {"X": label} if prior_dist is None else {"X": label, "PriorDist": prior_dist}
    return LayerHelper("label_smooth", name).emit("label_smooth", inputs, {"epsilon": float(epsilon)})


def cos_sim(X: Variable, Y: Variable) -> Variable:
    """Cosine similarity [N, 1] of each row of X with the same row of Y (or with Y's only row)."""
    helper = LayerHelper("cos_sim")
    out, xnorm, ynorm = (helper.create_tmp(X.dtype) for _ in range(3))
    helper.append_op("cos_sim", {"X": X, "Y": Y}, {"Out": out, "XNorm": xnorm, "YNorm": ynorm})
    return out
