"""The sgd update's compiled loop (the numba backend, minigraph/ops/backend.py).

numpy needs two passes for p - lr * g: the product into the output, then the sum. One loop
reads p and g once and writes the output once. The operations are numpy's, in its order,
without contraction into a fused multiply-add (numba compiles without fastmath), so the
result is the numpy kernel's bit for bit.
"""

from __future__ import annotations

import numpy as np


def _sgd_loop(p: np.ndarray, g: np.ndarray, neg_lr: np.floating, out: np.ndarray) -> None:
    for i in range(p.size):
        out[i] = p[i] + neg_lr * g[i]
