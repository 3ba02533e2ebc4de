"""softmax_with_cross_entropy's compiled loops (the numba backend, minigraph/ops/backend.py)
for the common case: logits [N, C], hard labels [N, 1], the class axis last.

On a classifier's head (C of 10 or so) the numpy kernel is a dozen calls on tiny arrays,
its reductions along rows of 10 the slowest of them; here each row is three short passes.
The loss is the numpy kernel's arithmetic: the row's maximum subtracted first (NaN wins it,
as in np.max), the exponentials summed (in float64, so at least as exactly as numpy's sum),
loss = -(shifted - log(sum)) at the label. Softmax is exp(shifted) / sum, one exponential
per value where numpy computes exp(shifted - log(sum)) (two: the exponential is most of a
row's time): the two agree to a few units in the last place. The gradient is
(softmax - 1 at the label) * dLoss in numpy's order of operations. A label equal to ignore_index gives
loss 0 and gradient (softmax - [class 0]) * 0, as the numpy kernel's index-0 stand-in
does; any other label outside [0, C) stops the loop, and loss.py raises the numpy kernel's
error.
"""

from __future__ import annotations

import numpy as np


def _swce_loops(
    logits: np.ndarray, label: np.ndarray, ignore: int, consts: np.ndarray, softmax: np.ndarray, loss: np.ndarray
) -> int:
    """Softmax and Loss of each row; consts: 0 in the logits' dtype. Returns the first row
    with a bad label, or -1."""
    n, c_n = logits.shape
    zero = consts[0]
    for i in range(n):
        lab = label[i, 0]
        valid = lab != ignore
        if valid and not 0 <= lab < c_n:
            return i
        x, sm = logits[i], softmax[i]
        m = x[0]
        for c in range(1, c_n):
            if x[c] > m or x[c] != x[c]:
                m = x[c]
        s = 0.0
        for c in range(c_n):
            e = np.exp(x[c] - m)
            sm[c] = e
            s += e
        for c in range(c_n):
            sm[c] = sm[c] / s
        loss[i, 0] = np.log(s)  # rounded to the logits' dtype, as numpy's log of its sum is
        log_s = loss[i, 0]
        loss[i, 0] = -((x[lab] - m) - log_s) if valid else zero
    return -1


def _swce_grad_loops(
    label: np.ndarray, softmax: np.ndarray, d_loss: np.ndarray, ignore: int, consts: np.ndarray, dx: np.ndarray
) -> int:
    """Logits@GRAD of each row; consts: 0 and 1 in the softmax's dtype. Returns the first
    row with a bad label, or -1."""
    n, c_n = softmax.shape
    zero, one = consts[0], consts[1]
    for i in range(n):
        lab = label[i, 0]
        valid = lab != ignore
        if valid and not 0 <= lab < c_n:
            return i
        at = lab if valid else 0
        d = d_loss[i, 0] if valid else zero
        for c in range(c_n):
            p = softmax[i, c]
            dx[i, c] = ((p - one) if c == at else p) * d
    return -1
