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


# --- the chunked path: patches [K = (channel, kh, kw), (sample, output pixel)] of a chunk ---


def _chunk_loops(x: np.ndarray, cols: np.ndarray, n0: int, window: tuple[int, ...], back: bool) -> None:
    """back False: cols[(c*kh + i)*kw + j, n*P + p*OW + q] = x[n0 + n, c, row, col] (0 in the
    padding), for the cols.shape[1] // P samples from n0; back True: the adjoint, adding
    cols into the input gradient x. (A test per element compiles to vector selects; splitting
    each run at the padding's edges measured four times slower.)"""
    sh, sw, dh, dw, pt, pl, kh, kw, oh, ow = window
    c_n, h, w = x.shape[1], x.shape[2], x.shape[3]
    for c in range(c_n):
        for i in range(kh):
            for j in range(kw):
                k = (c * kh + i) * kw + j
                for n in range(cols.shape[1] // (oh * ow)):
                    for p in range(oh):
                        r = p * sh - pt + i * dh
                        at = (n * oh + p) * ow
                        for q in range(ow):
                            col = q * sw - pl + j * dw
                            inside = 0 <= r < h and 0 <= col < w
                            if back:
                                if inside:
                                    x[n0 + n, c, r, col] += cols[k, at + q]
                            else:
                                cols[k, at + q] = x[n0 + n, c, r, col] if inside else 0


def _epilogue_loops(prod: np.ndarray, out: np.ndarray, n0: int, bias: np.ndarray, low: np.ndarray) -> None:
    """out[n0 + n, o, p] = max(prod[o, n*P + p] + bias[o], low[0]) for a chunk's GEMM output
    prod [O, nb*P] and out [N, O, P]. Without a bias, bias is -0.0 (adding it changes no
    value, not even a zero's sign); without relu, low is -inf. NaN stays NaN."""
    p_n = out.shape[2]
    lo = low[0]
    for o in range(prod.shape[0]):
        b = bias[o]
        for n in range(prod.shape[1] // p_n):
            for p in range(p_n):
                v = prod[o, n * p_n + p] + b
                out[n0 + n, o, p] = lo if v < lo else v


def _epilogue_pool_loops(prod: np.ndarray, out: np.ndarray, n0: int, bias: np.ndarray, low: np.ndarray) -> None:
    """As _epilogue_loops, then 2x2 stride-2 max pools: out [N, O, OH/2, OW/2]. The max of a
    window comes first (max, the bias and the clamp commute, so this equals pooling the
    finished map); NaN wins, as with np.maximum."""
    oh, ow = out.shape[2], out.shape[3]
    w2 = 2 * ow
    p_n = 2 * oh * w2
    lo = low[0]
    for o in range(prod.shape[0]):
        b = bias[o]
        for n in range(prod.shape[1] // p_n):
            for p in range(oh):
                r = n * p_n + 2 * p * w2
                for q in range(ow):
                    v0, v1 = prod[o, r + 2 * q], prod[o, r + 2 * q + 1]
                    v2, v3 = prod[o, r + w2 + 2 * q], prod[o, r + w2 + 2 * q + 1]
                    m01 = v0 if v0 >= v1 or v0 != v0 else v1
                    m23 = v2 if v2 >= v3 or v2 != v2 else v3
                    v = (m01 if m01 >= m23 or m01 != m01 else m23) + b
                    out[n0 + n, o, p, q] = lo if v < lo else v


def _epilogue_pool_plain_loops(prod: np.ndarray, out: np.ndarray, n0: int, bias: np.ndarray, low: np.ndarray) -> None:
    """_epilogue_pool_loops for a chunk without NaN: Python's max picks the same value as the
    NaN-aware selects there (the first of equal values, so even a zero's sign agrees), and
    compiles to vector max instructions, which the selects do not (twice as fast)."""
    oh, ow = out.shape[2], out.shape[3]
    w2 = 2 * ow
    p_n = 2 * oh * w2
    lo = low[0]
    for o in range(prod.shape[0]):
        b = bias[o]
        for n in range(prod.shape[1] // p_n):
            for p in range(oh):
                r = n * p_n + 2 * p * w2
                for q in range(ow):
                    v0, v1 = prod[o, r + 2 * q], prod[o, r + 2 * q + 1]
                    v2, v3 = prod[o, r + w2 + 2 * q], prod[o, r + w2 + 2 * q + 1]
                    out[n0 + n, o, p, q] = max(max(max(v0, v1), max(v2, v3)) + b, lo)


def _has_nan_loops(a: np.ndarray) -> bool:
    flat = a.reshape(-1)
    seen = False
    for i in range(flat.shape[0]):
        seen |= flat[i] != flat[i]
    return seen


def _gather_loops(d: np.ndarray, dout: np.ndarray, n0: int) -> None:
    """d[o, n*P + p] = dout[n0 + n, o, p]: a chunk of the NCHW output gradient [N, O, P]."""
    p_n = dout.shape[2]
    for o in range(d.shape[0]):
        for n in range(d.shape[1] // p_n):
            for p in range(p_n):
                d[o, n * p_n + p] = dout[n0 + n, o, p]


def _chunk_window(g: Geometry) -> tuple[int, ...]:
    return (*g.strides, *g.dilations, g.pads[0], g.pads[2], *g.kernel, *g.out)


def im2cols(x: np.ndarray, g: Geometry, n0: int, cols: np.ndarray) -> None:
    """Fill cols [C*kh*kw, nb*OH*OW] with the windows of samples n0 .. n0+nb of NCHW x."""
    jit(_chunk_loops)(x, cols, n0, _chunk_window(g), False)


def cols2im(dcols: np.ndarray, g: Geometry, n0: int, dx: np.ndarray) -> None:
    """Add dcols [C*kh*kw, nb*OH*OW] into samples n0 .. n0+nb of the NCHW input gradient dx."""
    jit(_chunk_loops)(dx, dcols, n0, _chunk_window(g), True)


def cols_to_nchw(prod: np.ndarray, out: np.ndarray, n0: int, bias: np.ndarray, relu: bool, pool: bool) -> None:
    """Write a chunk's GEMM output [O, nb*P] into samples n0 .. n0+nb of NCHW `out`, adding
    `bias` (one value per channel, or empty), through relu, and 2x2 max-pooled with `pool`."""
    o = prod.shape[0]
    b = bias if bias.shape[0] else np.full(o, -0.0, prod.dtype)
    low = np.array([0 if relu else -np.inf], prod.dtype)
    if pool:
        exact = jit(_has_nan_loops)(prod)
        jit(_epilogue_pool_loops if exact else _epilogue_pool_plain_loops)(prod, out, n0, b, low)
    else:
        jit(_epilogue_loops)(prod, out.reshape(out.shape[0], o, -1), n0, b, low)


def nchw_to_cols(dout: np.ndarray, n0: int, d: np.ndarray) -> None:
    """Fill d [O, nb*P] from samples n0 .. n0+nb of NCHW `dout`."""
    jit(_gather_loops)(d, dout.reshape(dout.shape[0], dout.shape[1], -1), n0)
