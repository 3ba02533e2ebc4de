"""conv2d on the numba backend (NCHW, one group), a few samples at a time.

The numpy kernels in conv.py build the patch matrix of the whole batch, which for a large
batch is far bigger than the caches: it is written to memory once and read back by the
GEMM. Here the batch goes in chunks of whole samples (about CHUNK_PIXELS output pixels,
their patches at most CHUNK_BYTES), so the patches are still in cache when the GEMM reads
them, and no full-size patch matrix exists at all (the gradient rebuilds each chunk's
patches, which is cheaper than keeping the whole matrix from the forward: it costs a pass
over cached data, not memory).

Patches are [K, pixels]: one row per (channel, kh, kw) in the filter's order, one column
per (sample, output pixel), so each row is built from runs of contiguous input values.
`filter [O, K] @ patches` gives [O, pixels], and the epilogue copies each channel's runs
into NCHW, adding the bias, applying relu and max-pooling 2x2 windows on the way when the
fused op asks for them, while the chunk is still in cache. (Rows per pixel would suit BLAS
slightly better, but writing them scatters and measured slower overall.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import InvalidArgumentError
from minigraph.ops import conv_loops
from minigraph.ops.backend import compiled
from minigraph.ops.buffers import empty, scrap, zeros
from minigraph.ops.spatial import Geometry

# A chunk's size: about CHUNK_PIXELS output pixels (GEMM columns), whose patches take at
# most CHUNK_BYTES, in whole samples. Measured on the benchmarks' CNN (K = 27 and 144,
# 1024 and 256 pixels a sample): 2-3 samples a chunk ran fastest, 4 or more up to 40%
# slower in the gradient; the patches, the GEMM's output and BLAS's packed copies then stay
# in a core's L2 cache.
CHUNK_PIXELS = 2048
CHUNK_BYTES = 1 << 19


def applies(attrs: dict[str, Any]) -> bool:
    """Whether conv2d with these attrs takes this path (numba backend, NCHW, one group)."""
    return compiled() and attrs["groups"] == 1 and attrs["data_format"] == "NCHW"


def _chunk(g: Geometry, k: int, itemsize: int) -> int:
    """Samples per chunk."""
    pixels = g.out[0] * g.out[1]
    return max(1, min(CHUNK_PIXELS // pixels, CHUNK_BYTES // (pixels * k * itemsize)))


def _filter_matrix(w: np.ndarray) -> np.ndarray:
    """[O, C, kh, kw] -> [O, C*kh*kw], the patch rows' order."""
    return np.ascontiguousarray(w).reshape(w.shape[0], -1)


def forward(
    x: np.ndarray, w: np.ndarray, g: Geometry, bias: np.ndarray | None = None, relu: bool = False, pool: bool = False
) -> np.ndarray:
    """conv2d of NCHW `x`, then (for the fused op) + bias per channel, relu, and a 2x2
    stride-2 max pool; `pool` needs even output sizes."""
    x, wm = np.ascontiguousarray(x), _filter_matrix(w)
    (n, o), (oh, ow), k = (x.shape[0], w.shape[0]), g.out, wm.shape[1]
    if pool and (oh % 2 or ow % 2):
        raise InvalidArgumentError(f"the fused 2x2 pool needs an even output size, got {oh}x{ow}")
    out = empty((n, o, oh // 2, ow // 2) if pool else (n, o, oh, ow), x.dtype)
    fill, write = conv_loops.patches(g, x.shape[3]), conv_loops.epilogue(out, bias, relu, pool)
    nb = min(n, _chunk(g, k, x.itemsize))
    cols, prod = empty((k * nb * oh * ow,), x.dtype), empty((o * nb * oh * ow,), x.dtype)
    for n0 in range(0, n, nb):
        m = min(nb, n - n0) * oh * ow
        c = cols[: k * m].reshape(k, m)
        fill(x, c, n0)
        write(np.matmul(wm, c, out=prod[: o * m].reshape(o, m)), n0)
    del c
    scrap(cols)
    scrap(prod)
    return out


def backward(
    x: np.ndarray, w: np.ndarray, dout: np.ndarray, g: Geometry, want_dx: bool, want_dw: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """conv2d's input and filter gradients (None where not wanted)."""
    x, wm, dout = np.ascontiguousarray(x), _filter_matrix(w), np.ascontiguousarray(dout)
    (n, o), (oh, ow), k = (x.shape[0], w.shape[0]), g.out, wm.shape[1]
    fill, unfill = conv_loops.patches(g, x.shape[3]), conv_loops.patches(g, x.shape[3], back=True)
    read = conv_loops.gather(dout)
    nb = min(n, _chunk(g, k, x.itemsize))
    d_flat, cols = empty((o * nb * oh * ow,), x.dtype), empty((k * nb * oh * ow,), x.dtype)
    dx = empty(x.shape, x.dtype) if want_dx else None
    dw = zeros((o, k), w.dtype) if want_dw else None
    part = empty((o, k), w.dtype) if want_dw else None
    for n0 in range(0, n, nb):
        n1 = min(n, n0 + nb)
        m = (n1 - n0) * oh * ow
        d, c = d_flat[: o * m].reshape(o, m), cols[: k * m].reshape(k, m)  # c: patches, then their gradient
        read(d, n0)
        if dw is not None:
            fill(x, c, n0)
            dw += np.matmul(d, c.T, out=part)
        if dx is not None:
            np.matmul(wm.T, d, out=c)
            dx[n0:n1].fill(0)
            unfill(dx, c, n0)
    del d, c
    scrap(d_flat)
    scrap(cols)
    if part is not None:
        scrap(part)
    return dx, None if dw is None else dw.reshape(w.shape)
