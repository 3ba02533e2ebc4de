"""A feed value converted to its variable's dtype, refusing values the dtype cannot hold.

numpy's casts wrap integers around (a uint64 label of 2**64-100 becomes -100, which is
softmax_with_cross_entropy's ignore_index: the step silently trains on nothing) and turn
too-large floats into inf with only a warning. The range is checked only when the cast can
lose range (numpy's "safe" rule says no), so feeding the variable's own dtype, or a
narrower one, costs nothing extra: a min/max pass for integers, an isinf pass for floats.
"""

from __future__ import annotations

import numpy as np

from minigraph.errors import FeedError


def convert_feed(name: str, arr: np.ndarray, dtype: str, persistable: bool) -> np.ndarray:
    """`arr` as `dtype` (FeedError naming the feed when it cannot be, or a value does not fit).

    The result never shares memory with the caller's array when the variable is persistable:
    the scope keeps it after the run, and the caller writing into their array afterwards
    must not change a stored weight.
    """
    target = np.dtype(dtype)
    if arr.dtype == target:
        return np.array(arr, copy=True) if persistable else arr
    if not np.can_cast(arr.dtype, target, casting="same_kind"):
        raise FeedError(
            f"feed {name!r}: dtype {arr.dtype} cannot be cast to the variable's dtype {dtype} (numpy 'same_kind' rule)"
        )
    if np.can_cast(arr.dtype, target, casting="safe") or arr.size == 0:
        return arr.astype(target)
    if target.kind in "iu":  # from a wider or differently signed integer (or bool: always safe)
        info = np.iinfo(target)
        lo, hi = arr.min(), arr.max()
        if lo < info.min or hi > info.max:
            bad = lo if lo < info.min else hi
            raise FeedError(
                f"feed {name!r}: value {bad} does not fit the variable's dtype {dtype} "
                f"({info.min}..{info.max}); numpy would wrap it around to {np.array(bad).astype(target)}"
            )
        return arr.astype(target)
    with np.errstate(over="ignore"):  # detected below, with the feed's name
        out = arr.astype(target)
    overflowed = np.isinf(out)
    if overflowed.any():
        if arr.dtype.kind == "f":
            overflowed &= ~np.isinf(arr)  # an Inf fed stays an Inf: not an overflow
        if overflowed.any():
            bad = arr[overflowed].flat[0]
            raise FeedError(
                f"feed {name!r}: value {bad} does not fit the variable's dtype {dtype} "
                f"(largest {np.finfo(target).max}); numpy would turn it into inf"
            )
    return out
