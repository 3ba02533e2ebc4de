"""conv2d's compiled loops for NCHW (the numba backend, minigraph/ops/backend.py), driven
chunk by chunk by conv_rows.py: a chunk's patch matrix written straight from the unpadded
input (zeros where a window reaches into the padding) and its adjoint adding patch
gradients back, the epilogue writing GEMM output into NCHW (bias, relu, 2x2 max pool), and
the output gradient gathered into the GEMM's layout."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from minigraph.ops.backend import jit
from minigraph.ops.spatial import Geometry

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


def _chunk_flat_loops(x: np.ndarray, cols: np.ndarray, n0: int, window: tuple[int, ...], back: bool) -> None:
    """_chunk_loops for stride 1 and an output as wide as the input (e.g. 3x3, padding 1):
    a patch row's run for one sample is then the sample's input plane shifted by one flat
    offset, copied in one long loop (zeros where the shift leaves the plane); only the
    columns a window's offset pushes past the left or right edge need mending: zeroed after
    the copy, or zeroed in cols before the adjoint adds them. On 16x16 maps this measured
    about a third faster than _chunk_loops' runs of one output row."""
    sh, sw, dh, dw, pt, pl, kh, kw, oh, ow = window
    c_n, h, w = x.shape[1], x.shape[2], x.shape[3]
    hw, p_n = h * w, oh * ow
    planes = x.reshape(x.shape[0], c_n, hw)
    for c in range(c_n):
        for i in range(kh):
            for j in range(kw):
                k = (c * kh + i) * kw + j
                off = j * dw - pl
                shift = (i * dh - pt) * w + off
                edge_lo, edge_hi = (0, min(ow, -off)) if off < 0 else (max(0, w - off), ow)
                lo = min(p_n, max(0, -shift))  # [lo, hi): where the shifted plane lies
                hi = max(lo, min(p_n, hw - shift))
                row = cols[k]
                for n in range(cols.shape[1] // p_n):
                    at = n * p_n
                    plane = planes[n0 + n, c]
                    if back:
                        for p in range(oh):
                            for q in range(edge_lo, edge_hi):
                                row[at + p * ow + q] = 0
                        for t in range(p_n):
                            s = t + shift
                            if 0 <= s < hw:
                                plane[s] += row[at + t]
                        continue
                    # zeros, one straight copy between two views (no index test per value:
                    # a third faster again), zeros
                    for t in range(lo):
                        row[at + t] = 0
                    src, dst = plane[lo + shift : hi + shift], row[at + lo : at + hi]
                    for t in range(hi - lo):
                        dst[t] = src[t]
                    for t in range(hi, p_n):
                        row[at + t] = 0
                    for p in range(oh):
                        for q in range(edge_lo, edge_hi):
                            row[at + p * ow + q] = 0


def _epilogue_loops(
    prod: np.ndarray, out: np.ndarray, n0: int, bias: np.ndarray, low: np.ndarray, tile: np.ndarray
) -> None:
    """out[n0 + n, o, y, x] = max(prod[(n*OH + y)*OW + x, o] + bias[o], low[0]) for a chunk's
    GEMM output prod [nb*OH*OW, O] (pixel-major: one row of channels per pixel, the
    orientation BLAS computes fastest here) and NCHW out [N, O, OH, OW]. Each output row
    goes through `tile` [OW, O], written along channels, then is copied out channel by
    channel, so both sides run over contiguous memory. Without a bias, bias is -0.0 (adding
    it changes no value, not even a zero's sign); without relu, low is -inf. NaN stays NaN."""
    oh, ow, c_n = out.shape[2], out.shape[3], out.shape[1]
    lo = low[0]
    for n in range(prod.shape[0] // (oh * ow)):
        for y in range(oh):
            r = (n * oh + y) * ow
            for x in range(ow):
                for c in range(c_n):
                    v = prod[r + x, c] + bias[c]
                    tile[x, c] = lo if v < lo else v
            for c in range(c_n):
                for x in range(ow):
                    out[n0 + n, c, y, x] = tile[x, c]


def _epilogue_pool_loops(
    prod: np.ndarray, out: np.ndarray, n0: int, bias: np.ndarray, low: np.ndarray, tile: np.ndarray
) -> None:
    """As _epilogue_loops, then 2x2 stride-2 max pools: out [N, O, OH/2, OW/2]. The max of a
    window comes first (max, the bias and the clamp commute, so this equals pooling the
    finished map). A chunk holding NaN takes selects that let NaN win, as np.maximum does;
    without NaN, Python's max picks the same value (the first of equal ones, so even a
    zero's sign agrees) and compiles to vector max instructions, twice as fast."""
    oh, ow, c_n = out.shape[2], out.shape[3], out.shape[1]
    w2 = 2 * ow
    lo = low[0]
    flat = prod.reshape(-1)
    has_nan = False
    for i in range(flat.shape[0]):
        has_nan |= flat[i] != flat[i]
    for n in range(prod.shape[0] // (4 * oh * ow)):
        for y in range(oh):
            r = (2 * n * oh + 2 * y) * w2
            for x in range(ow):
                a, b = r + 2 * x, r + w2 + 2 * x  # the window's top-left and bottom-left pixels
                if not has_nan:
                    for c in range(c_n):
                        m = max(max(prod[a, c], prod[a + 1, c]), max(prod[b, c], prod[b + 1, c]))
                        tile[x, c] = max(m + bias[c], lo)
                    continue
                for c in range(c_n):
                    v0, v1, v2, v3 = prod[a, c], prod[a + 1, c], prod[b, c], prod[b + 1, c]
                    m01 = v0 if v0 >= v1 or v0 != v0 else v1
                    m23 = v2 if v2 >= v3 or v2 != v2 else v3
                    v = (m01 if m01 >= m23 or m01 != m01 else m23) + bias[c]
                    tile[x, c] = lo if v < lo else v
            for c in range(c_n):
                for x in range(ow):
                    out[n0 + n, c, y, x] = tile[x, c]


def _gather_loops(d: np.ndarray, dout: np.ndarray, n0: int) -> None:
    """d[o, n*P + p] = dout[n0 + n, o, p]: a chunk of the NCHW output gradient [N, O, P]."""
    p_n = dout.shape[2]
    for o in range(d.shape[0]):
        for n in range(d.shape[1] // p_n):
            for p in range(p_n):
                d[o, n * p_n + p] = dout[n0 + n, o, p]


# The chunked path's entry points return the compiled loops with their per-call arguments
# bound once per conv2d call, so a chunk pays one dispatch per loop and nothing else.

Filler = Callable[[np.ndarray, np.ndarray, int], None]


def patches(g: Geometry, width: int, back: bool = False) -> Filler:
    """fill(x, cols, n0): cols [C*kh*kw, nb*OH*OW] gets the windows of samples n0 .. n0+nb of
    NCHW x (`width` wide); with `back`, fill(dx, dcols, n0) adds dcols into those samples of
    dx instead (and may overwrite dcols)."""
    flat = g.strides == (1, 1) and g.out[1] == width
    loops = jit(_chunk_flat_loops if flat else _chunk_loops)
    window = (*g.strides, *g.dilations, g.pads[0], g.pads[2], *g.kernel, *g.out)
    return lambda x, cols, n0: loops(x, cols, n0, window, back)


def epilogue(
    out: np.ndarray, bias: np.ndarray | None, relu: bool, pool: bool
) -> Callable[[np.ndarray, int, np.ndarray], None]:
    """write(prod, n0, tile): a chunk's GEMM output [nb*P, O] (pixel-major) into samples
    n0 .. n0+nb of NCHW `out`, plus `bias` per channel, through relu, and 2x2 max-pooled
    with `pool`; `tile` is the caller's scratch of `tile_shape(out)` (one per thread)."""
    b = np.full(out.shape[1], -0.0, out.dtype) if bias is None else np.ascontiguousarray(bias, dtype=out.dtype)
    low = np.array([0 if relu else -np.inf], out.dtype)
    loops = jit(_epilogue_pool_loops if pool else _epilogue_loops)
    return lambda prod, n0, tile: loops(prod, out, n0, b, low, tile)


def tile_shape(out: np.ndarray) -> tuple[int, int]:
    """The epilogue's scratch for NCHW `out`: one output row, channels last."""
    return out.shape[3], out.shape[1]


def gather(dout: np.ndarray) -> Callable[[np.ndarray, int], None]:
    """read(d, n0): d [O, nb*P] from samples n0 .. n0+nb of NCHW `dout`."""
    loops, flat = jit(_gather_loops), dout.reshape(dout.shape[0], dout.shape[1], -1)
    return lambda d, n0: loops(d, flat, n0)
