"""pool2d's compiled kernels (the numba backend, minigraph/ops/backend.py) for NCHW: one
loop over the windows, reading each input element once per window that holds it, instead
of one strided numpy pass per kernel offset.

They compute what the numpy kernels in pool.py compute: max pooling propagates NaN and
treats padding as -inf (so it never wins), and its gradient goes to the first maximum in
row-major window order; average pooling divides by pool.py's divisor (exclusive or not),
summing in float64.
"""

from __future__ import annotations

import numpy as np

from minigraph.ops.backend import jit
from minigraph.ops.buffers import empty, zeros
from minigraph.ops.spatial import Geometry


def _pool_loops(
    x: np.ndarray,
    out: np.ndarray,
    dout: np.ndarray,
    dx: np.ndarray,
    window: tuple[int, int, int, int, int, int],
    is_max: bool,
    grad: bool,
    div: np.ndarray,
) -> None:
    """Forward (grad False: writes out) or gradient (grad True: reads out and dout, adds
    into dx), over windows (kh, kw, stride h, stride w, pad top, pad left)."""
    kh, kw, sh, sw, pt, pl = window
    n, c, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    for i in range(n):
        for j in range(c):
            for p in range(oh):
                r0 = p * sh - pt
                for q in range(ow):
                    c0 = q * sw - pl
                    if not grad:
                        acc = -np.inf if is_max else 0.0
                        for a in range(max(r0, 0), min(r0 + kh, h)):
                            for b in range(max(c0, 0), min(c0 + kw, w)):
                                v = x[i, j, a, b]
                                if not is_max:
                                    acc += v
                                elif v > acc or v != v:  # NaN wins, as with np.maximum
                                    acc = v
                        out[i, j, p, q] = acc if is_max else acc / div[p, q]
                    elif not is_max:
                        share = dout[i, j, p, q] / div[p, q]
                        for a in range(max(r0, 0), min(r0 + kh, h)):
                            for b in range(max(c0, 0), min(c0 + kw, w)):
                                dx[i, j, a, b] += share
                    else:  # the first cell equal to Out in row-major order, padding (-inf) included
                        m, found = out[i, j, p, q], False
                        for a in range(r0, r0 + kh):
                            for b in range(c0, c0 + kw):
                                inside = 0 <= a < h and 0 <= b < w
                                if (x[i, j, a, b] if inside else -np.inf) == m:
                                    if inside:
                                        dx[i, j, a, b] += dout[i, j, p, q]
                                    found = True
                                    break
                            if found:
                                break


def _max2x2_loops(x: np.ndarray, out: np.ndarray, dout: np.ndarray, dx: np.ndarray, grad: bool) -> None:
    """2x2 windows at stride 2 without padding, in one pass: forward (grad False) writes out;
    the gradient writes every cell of dx (the first maximum of a window takes dout)."""
    n, c, oh, ow = out.shape
    for i in range(n):
        for j in range(c):
            for p in range(oh):
                for q in range(ow):
                    r, s = 2 * p, 2 * q
                    v0, v1, v2, v3 = x[i, j, r, s], x[i, j, r, s + 1], x[i, j, r + 1, s], x[i, j, r + 1, s + 1]
                    if not grad:
                        m01 = v0 if v0 >= v1 or v0 != v0 else v1  # NaN wins, as with np.maximum
                        m23 = v2 if v2 >= v3 or v2 != v2 else v3
                        out[i, j, p, q] = m01 if m01 >= m23 or m01 != m01 else m23
                        continue
                    m, d = out[i, j, p, q], dout[i, j, p, q]
                    h0 = v0 == m
                    h1 = v1 == m and not h0
                    h2 = v2 == m and not (h0 or h1)
                    h3 = v3 == m and not (h0 or h1 or h2)
                    dx[i, j, r, s] = d * h0  # d * False: 0, as numpy's d * hit
                    dx[i, j, r, s + 1] = d * h1
                    dx[i, j, r + 1, s] = d * h2
                    dx[i, j, r + 1, s + 1] = d * h3


def _is_max2x2(x: np.ndarray, g: Geometry, is_max: bool) -> bool:
    tiled = g.out[0] * 2 <= x.shape[2] and g.out[1] * 2 <= x.shape[3]
    return is_max and g.kernel == (2, 2) and g.strides == (2, 2) and not any(g.pads) and tiled


def _window(g: Geometry) -> tuple[int, int, int, int, int, int]:
    return (*g.kernel, *g.strides, g.pads[0], g.pads[2])


def pool2d(x: np.ndarray, g: Geometry, is_max: bool, div: np.ndarray) -> np.ndarray:
    """Windowed NCHW pooling; `div` [OH, OW] is average pooling's divisor."""
    x = np.ascontiguousarray(x)
    out = empty((*x.shape[:2], *g.out), x.dtype)
    if _is_max2x2(x, g, is_max):
        jit(_max2x2_loops)(x, out, out, x, False)  # dout, dx: unused
        return out
    jit(_pool_loops)(x, out, out, x, _window(g), is_max, False, div)  # dout, dx: unused
    return out


def pool2d_grad(
    x: np.ndarray, out: np.ndarray, dout: np.ndarray, g: Geometry, is_max: bool, div: np.ndarray
) -> np.ndarray:
    x, out, dout = (np.ascontiguousarray(v) for v in (x, out, dout))
    if _is_max2x2(x, g, is_max) and x.shape[2:] == (2 * g.out[0], 2 * g.out[1]):
        dx = empty(x.shape, x.dtype)
        jit(_max2x2_loops)(x, out, dout, dx, True)
        return dx
    dx = zeros(x.shape, x.dtype)
    jit(_pool_loops)(x, out, dout, dx, _window(g), is_max, True, div)
    return dx
