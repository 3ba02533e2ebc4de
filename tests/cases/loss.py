"""Cases for minigraph/ops/loss.py: references are plain numpy; labels are never differentiated."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(5)
N, C = 4, 3
logits = rng.normal(scale=2.0, size=(N, C))
hard = np.array([[0], [2], [1], [2]], dtype=np.int64)
soft = rng.uniform(0.1, 1.0, size=(N, C))
soft /= soft.sum(axis=1, keepdims=True)
probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
# Class axis 1 of a rank-3 input: [N, C, L] with labels [N, 1, L].
logits3 = rng.normal(size=(2, 3, 2))
hard3 = np.array([[[0, 2]], [[1, 1]]], dtype=np.int64)


def _log_softmax(x, axis=-1):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def _pick(a, label, axis=-1):
    return np.take_along_axis(a, label, axis=axis)


def _swce_ref(i, a):
    axis = a.get("axis", -1)
    ls = _log_softmax(i["Logits"], axis)
    if a.get("soft_label"):
        loss = -(i["Label"] * ls).sum(axis=axis, keepdims=True)
    else:
        ignore = a.get("ignore_index", -100)
        lab = i["Label"]
        loss = np.where(lab == ignore, 0.0, -_pick(ls, np.where(lab == ignore, 0, lab), axis))
    return {"Softmax": np.exp(ls), "Loss": loss}


def _acc_ref(k):
    def ref(i, a):
        top = np.argsort(-i["X"], axis=-1, kind="stable")[:, :k]
        correct = int((top == i["Label"]).any(axis=1).sum())
        n = i["X"].shape[0]
        return {"Accuracy": np.float32(correct / n), "Correct": np.int32(correct), "Total": np.int32(n)}

    return ref


CASES = [
    OpCase(
        "cross_entropy",
        {"X": probs, "Label": hard},
        ref=lambda i, a: {"Y": -np.log(_pick(i["X"], i["Label"]))},
    ),
    OpCase(
        "cross_entropy",
        {"X": probs, "Label": soft},
        {"soft_label": True},
        ref=lambda i, a: {"Y": -(i["Label"] * np.log(i["X"])).sum(axis=1, keepdims=True)},
        name="soft",
    ),
    OpCase(
        "cross_entropy",
        {"X": probs, "Label": np.array([[0], [-100], [1], [2]], dtype=np.int64)},
        ref=lambda i, a: {
            "Y": np.array([[-np.log(probs[0, 0])], [0.0], [-np.log(probs[2, 1])], [-np.log(probs[3, 2])]])
        },
        name="ignore_index",
    ),
    OpCase("softmax_with_cross_entropy", {"Logits": logits, "Label": hard}, ref=_swce_ref),
    OpCase(
        "softmax_with_cross_entropy",
        {"Logits": logits, "Label": soft},
        {"soft_label": True},
        ref=_swce_ref,
        name="soft",
    ),
    OpCase(
        "softmax_with_cross_entropy",
        {"Logits": logits, "Label": rng.uniform(0.0, 1.0, size=(N, C))},
        {"soft_label": True},
        ref=_swce_ref,
        name="soft_unnormalised",
    ),
    OpCase(
        "softmax_with_cross_entropy",
        {"Logits": logits3, "Label": hard3},
        {"axis": 1},
        ref=_swce_ref,
        name="axis1_rank3",
    ),
    OpCase(
        "softmax_with_cross_entropy",
        {"Logits": logits, "Label": np.array([[1], [-1], [0], [-1]], dtype=np.int64)},
        {"ignore_index": -1},
        ref=_swce_ref,
        name="ignore_index",
    ),
    OpCase(
        "softmax_with_cross_entropy",
        {"Logits": logits, "Label": hard},
        ref=_swce_ref,
        outputs=("Loss",),
        name="loss_only_grad",
    ),
    OpCase(
        "softmax_with_cross_entropy",
        {"Logits": np.array([[1000.0, 0.0, -1000.0], [5.0, 5.0, 5.0]]), "Label": np.array([[1], [0]], dtype=np.int64)},
        ref=lambda i, a: {"Loss": np.array([[1000.0], [np.log(3.0)]])},
        outputs=("Loss",),
        grad=(),
        name="large_logits_stable",
    ),
    OpCase("accuracy", {"X": logits, "Label": hard}, ref=_acc_ref(1)),
    OpCase(
        "accuracy",
        {"X": np.array([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.9, 0.05, 0.05]]), "Label": np.array([[2], [1], [0]])},
        {"k": 2},
        ref=lambda i, a: {"Accuracy": np.float32(2 / 3), "Correct": np.int32(2), "Total": np.int32(3)},
        name="top2_ties_to_lower_index",
    ),
]
