"""Per-channel reductions on BLAS, for batch_norm's numpy kernels (minigraph/ops/norm.py).

x is viewed as [A, C, B] (A: the axes before the channel axis, B: those after it), so
NCHW is [N, C, H*W] and NHWC or [N, C] is [M, C, 1]. Sums and dot products per channel
then run as matrix-vector products (one pass over memory, at memory speed) instead of
numpy's strided reductions over axes (0, 2, 3), which are several times slower.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np


@functools.lru_cache(maxsize=32)
def ones(n: int, dtype: np.dtype[Any]) -> np.ndarray:
    v = np.ones(n, dtype)
    v.flags.writeable = False
    return v


def as3(x: np.ndarray, axis: int) -> np.ndarray:
    a = math.prod(x.shape[:axis])
    return np.ascontiguousarray(x).reshape(a, x.shape[axis], -1)


def csum(x3: np.ndarray) -> np.ndarray:
    """Per-channel sum of an [A, C, B] array."""
    a, c, b = x3.shape
    if b == 1:
        return ones(a, x3.dtype) @ x3.reshape(a, c)
    rows = x3.reshape(a * c, b) @ ones(b, x3.dtype)
    return ones(a, x3.dtype) @ rows.reshape(a, c)


def cdot(u3: np.ndarray, v3: np.ndarray) -> np.ndarray:
    """Per-channel sum of u*v for two [A, C, B] arrays, without forming u*v."""
    a, c, b = u3.shape
    if b == 1:
        return np.einsum("ac,ac->c", u3.reshape(a, c), v3.reshape(a, c))
    rows = np.matmul(u3.reshape(a * c, 1, b), v3.reshape(a * c, b, 1))  # one dot product per row
    return ones(a, u3.dtype) @ rows.reshape(a, c)


def col(v: np.ndarray) -> np.ndarray:
    """A per-channel vector shaped to broadcast against an [A, C, B] array."""
    return v.reshape(1, -1, 1)
