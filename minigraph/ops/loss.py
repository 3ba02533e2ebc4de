"""Losses and metrics: cross_entropy (on probabilities), softmax_with_cross_entropy (on
logits, numerically stable), and accuracy (top-k on scores; no gradient).

Hard labels are integer class indices shaped like the input with 1 in the class axis; soft
labels are float distributions shaped like the input. A hard label equal to `ignore_index`
contributes no loss and no gradient; any other label outside [0, C) is an error at run time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import ExecutionError, GraphBuildError, OpTypeError
from minigraph.ops import loss_loops
from minigraph.ops.backend import compiled, jit
from minigraph.ops.common import NO_SECOND_ORDER, norm_axis, require_float, simple_grad
from minigraph.registry import GradContext, OpDef, register
from minigraph.types import FLOAT_DTYPES, shape_text

INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8")


def _check_label(op: str, x: Any, label: Any, axis: int, soft: bool) -> None:
    """Build-time check of Label's dtype and shape against the input `x` (class axis `axis`).
    OpTypeError messages name the op themselves: the block prefixes only GraphBuildError."""
    if soft:
        if label.dtype not in FLOAT_DTYPES:
            raise OpTypeError(f"{op}: soft_label=True needs a float Label, got {label.name!r} of dtype {label.dtype}")
    elif label.dtype not in INT_DTYPES:
        raise OpTypeError(
            f"{op}: Label {label.name!r} must hold integer class indices (int64), got {label.dtype}; "
            "pass soft_label=True for probability labels"
        )
    if len(label.shape) != len(x.shape):
        raise GraphBuildError(
            f"Label {label.name!r} {shape_text(label.shape)} must have the rank of the input "
            f"{x.name!r} {shape_text(x.shape)}"
        )
    for i, (a, b) in enumerate(zip(x.shape, label.shape)):
        want = a if (soft or i != axis) else 1
        if want >= 0 and b >= 0 and want != b:
            kind = (
                "soft labels are shaped like the input" if soft else f"hard labels have size 1 in the class axis {axis}"
            )
            raise GraphBuildError(
                f"Label {label.name!r} {shape_text(label.shape)} does not fit input {x.name!r} "
                f"{shape_text(x.shape)}: {kind}"
            )


def _hard_index(op: str, label: np.ndarray, classes: int, ignore_index: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(indices safe for take_along_axis, mask of rows that count, None when all of them
    do); ValueError on a bad label."""
    label = label.astype(np.int64, copy=False)
    if not 0 <= ignore_index < classes and (label.size == 0 or (label.min() >= 0 and label.max() < classes)):
        return label, None  # the usual batch: every label a class, so no mask to apply (2 reductions)
    valid = label != ignore_index
    bad = valid & ((label < 0) | (label >= classes))
    if bad.any():
        raise ExecutionError(
            f"{op}: label {int(label[bad][0])} is out of range [0, {classes}) "
            f"({int(bad.sum())} bad label(s); ignore_index={ignore_index})"
        )
    return np.where(valid, label, 0), valid


def _masked(valid: np.ndarray | None, v: np.ndarray) -> np.ndarray:
    """`v` where the row counts, 0 elsewhere."""
    return v if valid is None else np.where(valid, v, np.zeros((), v.dtype))


def _pick(x: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    """np.take_along_axis(x, idx, axis); on [N, C] by plain indexing (take_along_axis
    builds its index arrays in Python: several times slower on small batches)."""
    if x.ndim == 2 and axis == 1:
        return x[np.arange(x.shape[0])[:, None], idx]
    return np.take_along_axis(x, idx, axis=axis)


def _put(x: np.ndarray, idx: np.ndarray, v: np.ndarray, axis: int) -> None:
    """np.put_along_axis(x, idx, v, axis), by plain indexing on [N, C]."""
    if x.ndim == 2 and axis == 1:
        x[np.arange(x.shape[0])[:, None], idx] = v
    else:
        np.put_along_axis(x, idx, v, axis=axis)


# --- cross_entropy: X holds probabilities -----------------------------------------------------

CE_ATTRS: dict[str, Any] = {"soft_label": False, "ignore_index": -100}


def _ce_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, label = ins["X"], ins["Label"]
    require_float(x, "cross_entropy: X")
    if not x.shape:
        raise GraphBuildError("X must have a class axis (rank >= 1)")
    _check_label("cross_entropy", x, label, len(x.shape) - 1, attrs["soft_label"])
    return {"Y": ((*x.shape[:-1], 1), x.dtype)}


# Paddle's kernel clamps log(0) = -inf to -1e20 (its TolerableValue), so a probability of 0
# costs 1e20, and a zero soft label times log(0) costs 0 instead of nan.
APPROX_INF = 1e20


def _tolerable_log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(x), np.asarray(-APPROX_INF, x.dtype))


def _ce(a: dict[str, Any], x: np.ndarray, label: np.ndarray) -> tuple[np.ndarray]:
    if a["soft_label"]:
        return (-(label * _tolerable_log(x)).sum(axis=-1, keepdims=True),)
    idx, valid = _hard_index("cross_entropy", label, x.shape[-1], a["ignore_index"])
    picked = np.take_along_axis(x, idx, axis=-1)
    return (_masked(valid, -_tolerable_log(picked)),)


def _ce_grad(a: dict[str, Any], x: np.ndarray, label: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    if a["soft_label"]:
        return (-d * label / x,)
    idx, valid = _hard_index("cross_entropy_grad", label, x.shape[-1], a["ignore_index"])
    dx = np.zeros_like(x)
    picked = np.take_along_axis(x, idx, axis=-1)
    np.put_along_axis(dx, idx, _masked(valid, -d / picked), axis=-1)
    return (dx,)


register(
    OpDef(
        "cross_entropy",
        ("X", "Label"),
        ("Y",),
        _ce,
        _ce_infer,
        attrs=dict(CE_ATTRS),
        grad=simple_grad("cross_entropy_grad", ("X", "Label"), out="Y"),
        no_grad_inputs=("Label",),
    )
)
register(
    OpDef(
        "cross_entropy_grad",
        ("X", "Label", "Y@GRAD"),
        ("X@GRAD",),
        _ce_grad,
        lambda ins, attrs: {"X@GRAD": (ins["X"].shape, ins["X"].dtype)},
        attrs=dict(CE_ATTRS),
        no_grad=NO_SECOND_ORDER,
    )
)

# --- softmax_with_cross_entropy: Logits -> Softmax, Loss ------------------------------------

SWCE_ATTRS: dict[str, Any] = {"soft_label": False, "ignore_index": -100, "numeric_stable_mode": True, "axis": -1}


def _swce_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    logits, label = ins["Logits"], ins["Label"]
    require_float(logits, "softmax_with_cross_entropy: Logits")
    if not logits.shape:
        raise GraphBuildError("Logits must have a class axis (rank >= 1)")
    axis = norm_axis(attrs["axis"], len(logits.shape), "axis")
    _check_label("softmax_with_cross_entropy", logits, label, axis, attrs["soft_label"])
    loss_shape = tuple(1 if i == axis else d for i, d in enumerate(logits.shape))
    return {"Softmax": (logits.shape, logits.dtype), "Loss": (loss_shape, logits.dtype)}


def _rows_of_classes(a: dict[str, Any], x: np.ndarray, label: np.ndarray) -> bool:
    """Whether the compiled loops (loss_loops.py) take this call: numba backend, [N, C]
    with the classes last, hard integer labels."""
    hard = not a["soft_label"] and label.dtype.kind in "iu" and label.shape == (x.shape[0], 1)
    return compiled() and hard and x.ndim == 2 and a["axis"] % 2 == 1 and x.dtype.char in "fd"


def _consts(dtype: np.dtype[Any], memo: dict[Any, np.ndarray] = {}) -> np.ndarray:  # noqa: B006 - a memo
    """[0, 1] in `dtype`: the loops' typed constants."""
    got = memo.get(dtype)
    if got is None:
        got = memo[dtype] = np.array([0, 1], dtype)
    return got


def _swce_rows(a: dict[str, Any], logits: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits, label = np.ascontiguousarray(logits), np.ascontiguousarray(label, dtype=np.int64)
    softmax, loss = np.empty(logits.shape, logits.dtype), np.empty(label.shape, logits.dtype)
    ignore = int(a["ignore_index"])
    if jit(loss_loops._swce_loops)(logits, label, ignore, _consts(logits.dtype), softmax, loss) >= 0:
        _hard_index("softmax_with_cross_entropy", label, logits.shape[1], ignore)  # raises its error
    return softmax, loss


def _swce(a: dict[str, Any], logits: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if _rows_of_classes(a, logits, label):
        return _swce_rows(a, logits, label)
    axis = a["axis"] % logits.ndim
    # NOTE: always the stable form (log-sum-exp after subtracting the max), whatever
    # numeric_stable_mode says; the attr is kept only so Paddle programs carry over.
    shifted = logits - logits.max(axis=axis, keepdims=True)
    log_sm = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    softmax = np.exp(log_sm)
    if a["soft_label"]:
        return softmax, -(label * log_sm).sum(axis=axis, keepdims=True)
    idx, valid = _hard_index("softmax_with_cross_entropy", label, logits.shape[axis], a["ignore_index"])
    loss = _masked(valid, -_pick(log_sm, idx, axis))
    return softmax, loss


def _swce_grad(
    a: dict[str, Any], label: np.ndarray, softmax: np.ndarray, d_loss: np.ndarray, d_softmax: np.ndarray | None
) -> tuple[np.ndarray]:
    if d_softmax is None and _rows_of_classes(a, softmax, label):
        return (_swce_grad_rows(a, label, softmax, d_loss),)
    axis = a["axis"] % softmax.ndim
    if a["soft_label"]:
        # NOTE: d/dz of -sum(y * log_softmax(z)) is softmax * sum(y) - y; with labels that sum
        # to 1 (the usual case) this is Paddle's softmax - y, and it stays exact otherwise.
        dx = (softmax * label.sum(axis=axis, keepdims=True) - label) * d_loss
    else:
        idx, valid = _hard_index("softmax_with_cross_entropy_grad", label, softmax.shape[axis], a["ignore_index"])
        dx = softmax.copy()
        _put(dx, idx, _pick(softmax, idx, axis) - 1, axis)
        dx *= _masked(valid, d_loss)
    if d_softmax is not None:
        # Someone also used the Softmax output: add the softmax Jacobian-vector product.
        dx += softmax * (d_softmax - (d_softmax * softmax).sum(axis=axis, keepdims=True))
    return (dx.astype(softmax.dtype, copy=False),)


def _swce_grad_rows(a: dict[str, Any], label: np.ndarray, softmax: np.ndarray, d_loss: np.ndarray) -> np.ndarray:
    label, softmax = np.ascontiguousarray(label, dtype=np.int64), np.ascontiguousarray(softmax)
    d_loss = np.ascontiguousarray(np.broadcast_to(d_loss, label.shape), dtype=softmax.dtype)
    dx, ignore = np.empty(softmax.shape, softmax.dtype), int(a["ignore_index"])
    if jit(loss_loops._swce_grad_loops)(label, softmax, d_loss, ignore, _consts(softmax.dtype), dx) >= 0:
        _hard_index("softmax_with_cross_entropy_grad", label, softmax.shape[1], ignore)  # raises its error
    return dx


def _swce_grad_maker(g: GradContext) -> None:
    g.emit(
        "softmax_with_cross_entropy_grad",
        attrs=g.attrs,
        Label=g.input("Label"),
        Softmax=g.output("Softmax"),
        **{
            "Loss@GRAD": g.out_grad("Loss"),
            # Only wired when a later op reads Softmax; otherwise no zeros are made for it.
            "Softmax@GRAD": g.out_grad("Softmax") if g.has_out_grad("Softmax") else None,
            "Logits@GRAD": g.in_grad("Logits"),
        },
    )


register(
    OpDef(
        "softmax_with_cross_entropy",
        ("Logits", "Label"),
        ("Softmax", "Loss"),
        _swce,
        _swce_infer,
        attrs=dict(SWCE_ATTRS),
        grad=_swce_grad_maker,
        no_grad_inputs=("Label",),
    )
)
register(
    OpDef(
        "softmax_with_cross_entropy_grad",
        ("Label", "Softmax", "Loss@GRAD", "Softmax@GRAD?"),
        ("Logits@GRAD",),
        _swce_grad,
        lambda ins, attrs: {"Logits@GRAD": (ins["Softmax"].shape, ins["Softmax"].dtype)},
        attrs=dict(SWCE_ATTRS),
        no_grad=NO_SECOND_ORDER,
    )
)

# --- accuracy: top-k hits on scores ------------------------------------------------------------


def _acc_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x, label = ins["X"], ins["Label"]
    if not x.shape:
        raise GraphBuildError("X must be scores with a class axis (rank >= 1)")
    _check_label("accuracy", x, label, len(x.shape) - 1, soft=False)
    classes, k = x.shape[-1], attrs["k"]
    if k < 1 or (classes >= 0 and k > classes):
        raise GraphBuildError(f"k={k} must be in [1, {classes}] (the number of classes)")
    return {"Accuracy": ((), "float32"), "Correct": ((), "int32"), "Total": ((), "int32")}


def _accuracy(a: dict[str, Any], x: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    classes = x.shape[-1]
    # No ignore_index here: every label must name a class.
    _hard_index("accuracy", label, classes, ignore_index=-(2**62))
    # A stable sort of the negated scores ranks ties by lower class index, deterministically.
    top = np.argsort(-x, axis=-1, kind="stable")[..., : a["k"]]
    correct = int((top == label).any(axis=-1).sum())
    total = x.size // max(classes, 1)
    acc = correct / total if total else 0.0
    return np.asarray(acc, np.float32), np.asarray(correct, np.int32), np.asarray(total, np.int32)


register(
    OpDef(
        "accuracy",
        ("X", "Label"),
        ("Accuracy", "Correct", "Total"),
        _accuracy,
        _acc_infer,
        attrs={"k": 1},
        no_grad="metric: counts of correct predictions are not differentiable",
        no_grad_inputs=("Label",),
        optional_outputs=("Correct", "Total"),
    )
)
