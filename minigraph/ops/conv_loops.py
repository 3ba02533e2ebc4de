"""conv2d's compiled im2col and col2im for NCHW (the numba backend, minigraph/ops/backend.py):
the patch matrix [C, kh, kw, N, OH, OW] written straight from the unpadded input (zeros
where a window reaches into the padding), and its adjoint adding the patch gradients back,
instead of a padded copy plus a strided window view, and kh*kw strided slice-adds."""

from __future__ import annotations

import numpy as np

from minigraph.ops.backend import jit
from minigraph.ops.spatial import Geometry


def _im2col_loops(x: np.ndarray, cols: np.ndarray, window: tuple[int, ...], back: bool) -> None:
    """back False: cols[c, i, j, n, p, q] = x[n, c, row, col] (0 in the padding); back True:
    x[n, c, row, col] += cols[c, i, j, n, p, q], x being the input gradient."""
    sh, sw, dh, dw, pt, pl = window
    n_n, c_n, h, w = x.shape
    kh, kw, oh, ow = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
    for c in range(c_n):
        for i in range(kh):
            for j in range(kw):
                for n in range(n_n):
                    for p in range(oh):
                        r = p * sh - pt + i * dh
                        for q in range(ow):
                            col = q * sw - pl + j * dw
                            inside = 0 <= r < h and 0 <= col < w
                            if back:
                                if inside:
                                    x[n, c, r, col] += cols[c, i, j, n, p, q]
                            else:
                                cols[c, i, j, n, p, q] = x[n, c, r, col] if inside else 0


def _window(g: Geometry) -> tuple[int, ...]:
    return (*g.strides, *g.dilations, g.pads[0], g.pads[2])


def im2col(x: np.ndarray, g: Geometry, cols: np.ndarray) -> None:
    """Fill cols [C, kh, kw, N, OH, OW] with the windows of NCHW x."""
    jit(_im2col_loops)(np.ascontiguousarray(x), cols, _window(g), False)


def col2im(dcols: np.ndarray, g: Geometry, dx: np.ndarray) -> None:
    """Add dcols [C, kh, kw, N, OH, OW] into the zeroed NCHW input gradient dx."""
    jit(_im2col_loops)(dx, np.ascontiguousarray(dcols), _window(g), True)
