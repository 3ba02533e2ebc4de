"""`average_accumulates`: ModelAverage's per-step window bookkeeping, with Paddle's arithmetic.

Per run, for one parameter (all counters int64 [1]):

    num_updates += 1; num_accumulates += 1
    sum_1 += param                                  # the current (post-update) value counts
    if num_updates % 16384 == 0:                    # keep sum_1 small: fold it into sum_2
        sum_2 += sum_1; sum_1 = 0
    if num_accumulates >= min_average_window and
       num_accumulates >= min(max_average_window, int64(num_updates * average_window)):
        sum_3 = sum_1 + sum_2                       # overwrites: only the last window survives
        sum_1 = sum_2 = 0
        old_num_accumulates = num_accumulates; num_accumulates = 0

Every `out_*` slot is the same variable as its `in_*` slot (declared `inplace`); the kernel
still returns new arrays, so a failed run leaves the scope untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError, OpTypeError
from minigraph.ops.common import require_float
from minigraph.registry import OpDef, register
from minigraph.types import shape_text

# Paddle's kMaxNumAccumulates: every this many updates sum_1 is folded into sum_2 so that a
# float32 running sum never grows large enough to swallow the values added to it.
MAX_NUM_ACCUMULATES = 16384

_SUMS = ("in_sum_1", "in_sum_2", "in_sum_3")
_COUNTS = ("in_num_accumulates", "in_old_num_accumulates", "in_num_updates")


def check_windows(min_average_window: int, max_average_window: int, who: str) -> None:
    """The one window rule the op and ModelAverage share."""
    if min_average_window > max_average_window:
        raise GraphBuildError(
            f"{who}: min_average_window ({min_average_window}) must not exceed "
            f"max_average_window ({max_average_window})"
        )


def _infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    p = ins["param"]
    require_float(p, "param")
    check_windows(attrs["min_average_window"], attrs["max_average_window"], "average_accumulates")
    out: dict[str, Any] = {}
    for slot in _SUMS:
        v = ins[slot]
        if v.dtype != p.dtype:
            raise OpTypeError(f"{slot} {v.name!r} is {v.dtype} but param {p.name!r} is {p.dtype}")
        if -1 not in v.shape and -1 not in p.shape and tuple(v.shape) != tuple(p.shape):
            raise GraphBuildError(
                f"{slot} {v.name!r} has shape {shape_text(v.shape)} but param {p.name!r} has {shape_text(p.shape)}"
            )
        out["out" + slot[2:]] = (v.shape, v.dtype)
    for slot in _COUNTS:
        v = ins[slot]
        if v.dtype != "int64":
            raise OpTypeError(f"{slot} {v.name!r} must be int64, got {v.dtype}")
        if tuple(v.shape) not in ((), (1,)):
            raise GraphBuildError(f"{slot} {v.name!r} must hold one value (shape [1]), got {shape_text(v.shape)}")
        out["out" + slot[2:]] = (v.shape, v.dtype)
    return out


def _kernel(
    a: dict[str, Any],
    param: np.ndarray,
    sum_1: np.ndarray,
    sum_2: np.ndarray,
    sum_3: np.ndarray,
    num_acc: np.ndarray,
    old_num_acc: np.ndarray,
    num_upd: np.ndarray,
) -> tuple[np.ndarray, ...]:
    min_window, max_window = a["min_average_window"], a["max_average_window"]
    check_windows(min_window, max_window, "average_accumulates")
    n_upd = int(num_upd.reshape(-1)[0]) + 1
    n_acc = int(num_acc.reshape(-1)[0]) + 1
    old = int(old_num_acc.reshape(-1)[0])
    s1 = sum_1 + param
    s2 = sum_2.copy()
    s3 = sum_3.copy()
    if n_upd % MAX_NUM_ACCUMULATES == 0:
        s2 = s2 + s1
        s1 = np.zeros_like(s1)
    # NOTE: Paddle multiplies in float32 (the attr is a C++ float) and truncates to int64:
    # at num_updates=7 with rate 0.5 the threshold is int(3.5) = 3.
    threshold = int(np.float32(n_upd) * np.float32(a["average_window"]))
    if n_acc >= min_window and n_acc >= min(max_window, threshold):
        s3 = s1 + s2  # overwrite, not accumulate: the previous window is dropped
        s1 = np.zeros_like(s1)
        s2 = np.zeros_like(s2)
        old, n_acc = n_acc, 0

    def count(value: int, like: np.ndarray) -> np.ndarray:
        return np.full(like.shape, value, dtype=like.dtype)

    # np.asarray: arithmetic on 0-D arrays returns numpy scalars, outputs must stay arrays.
    return (
        np.asarray(s1),
        np.asarray(s2),
        np.asarray(s3),
        count(n_acc, num_acc),
        count(old, old_num_acc),
        count(n_upd, num_upd),
    )


register(
    OpDef(
        "average_accumulates",
        ("param", *_SUMS, *_COUNTS),
        ("out_sum_1", "out_sum_2", "out_sum_3", "out_num_accumulates", "out_old_num_accumulates", "out_num_updates"),
        _kernel,
        _infer,
        attrs={"average_window": 0.0, "min_average_window": 10000, "max_average_window": 10000},
        no_grad="accumulates statistics; not differentiable",
        inplace={"out" + s[2:]: s for s in (*_SUMS, *_COUNTS)},
    )
)
