"""conv2d on the numba backend (NCHW), a few samples at a time.

The numpy kernels in conv.py build the patch matrix of the whole batch, which for a large
batch is far bigger than the caches: it is written to memory once and read back by the
GEMM. Here the batch goes in chunks of whole samples (about CHUNK_PIXELS output pixels,
their patches at most CHUNK_BYTES), so the patches are still in cache when the GEMM reads
them, and no full-size patch matrix exists at all (the gradient rebuilds each chunk's
patches, which is cheaper than keeping the whole matrix from the forward: it costs a pass
over cached data, not memory).

Patches are [K, pixels]: one row per (channel, kh, kw) in the filter's order, one column
per (sample, output pixel), so each row is built from runs of contiguous input values.
(Rows per pixel would suit BLAS slightly better, but writing them scatters and measured
slower overall.) The forward asks BLAS for `patches.T @ filter.T`, the product pixel-major
[pixels, O]: at these shapes 15-30% faster than `filter @ patches`. The epilogue turns each
output row around through a small tile and writes it into NCHW, adding the bias, applying
relu and max-pooling 2x2 windows on the way when the fused op asks for them, while the
chunk is still in cache. The gradient keeps [O, pixels], which its two products want.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import InvalidArgumentError
from minigraph.ops import conv_loops, team
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
    """Whether conv2d with these attrs takes this path (numba backend, NCHW)."""
    return compiled() and attrs["data_format"] == "NCHW"


def matmul_per_group(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """a @ b per group (the leading axis); with one group as a plain 2-D product, so BLAS
    takes a transposed operand as it is (a batched matmul would copy it)."""
    if a.shape[0] == 1:
        np.matmul(a[0], b[0], out=out[0])
    else:
        np.matmul(a, b, out=out)
    return out


def _chunk(g: Geometry, k: int, itemsize: int) -> int:
    """Samples per chunk."""
    pixels = g.out[0] * g.out[1]
    return max(1, min(CHUNK_PIXELS // pixels, CHUNK_BYTES // (pixels * k * itemsize)))


def _filter_matrix(w: np.ndarray, groups: int) -> np.ndarray:
    """[O, C/groups, kh, kw] -> [groups, O/groups, C/groups*kh*kw], the patch rows' order:
    group i's rows of the patches are its channels' (channel-major)."""
    return np.ascontiguousarray(w).reshape(groups, w.shape[0] // groups, -1)


def forward(
    x: np.ndarray,
    w: np.ndarray,
    g: Geometry,
    groups: int = 1,
    bias: np.ndarray | None = None,
    relu: bool = False,
    pool: bool = False,
) -> np.ndarray:
    """conv2d of NCHW `x`, then (for the fused op) + bias per channel, relu, and a 2x2
    stride-2 max pool; `pool` needs even output sizes."""
    x, wm = np.ascontiguousarray(x), _filter_matrix(w, groups)
    (n, o), (oh, ow), kg = (x.shape[0], w.shape[0]), g.out, wm.shape[2]
    k = groups * kg
    if pool and (oh % 2 or ow % 2):
        raise InvalidArgumentError(f"the fused 2x2 pool needs an even output size, got {oh}x{ow}")
    out = empty((n, o, oh // 2, ow // 2) if pool else (n, o, oh, ow), x.dtype)
    fill, write = conv_loops.patches(g, x.shape[3]), conv_loops.epilogue(out, bias, relu, pool)
    nb = min(n, _chunk(g, k, x.itemsize))
    count = -(-n // nb)
    threads = min(count, team.threads_for(n * oh * ow * kg * o))  # scratch for each thread
    scratch = [
        (
            empty((k * nb * oh * ow,), x.dtype),
            empty((o * nb * oh * ow,), x.dtype),
            np.empty(conv_loops.tile_shape(out), x.dtype),
            empty((o * nb * oh * ow,), x.dtype) if groups > 1 else None,
        )
        for _ in range(threads)
    ]
    wt = wm.transpose(0, 2, 1)

    def chunk(i: int, slot: int) -> None:
        cols, prod, tile, per_group = scratch[slot]
        n0 = i * nb
        m = min(nb, n - n0) * oh * ow
        c = cols[: k * m].reshape(groups, kg, m)
        fill(x, c.reshape(k, m), n0)
        # patches.T @ filter.T: the product pixel-major [pixels, O], which BLAS computes
        # 15-30% faster than filter @ patches at these shapes
        p = prod[: o * m].reshape(m, o)
        if per_group is None:
            np.matmul(c[0].T, wt[0], out=p)
        else:  # [groups, pixels, O/groups], then each pixel's channels side by side
            pg = np.matmul(c.transpose(0, 2, 1), wt, out=per_group[: o * m].reshape(groups, m, o // groups))
            np.copyto(p.reshape(m, groups, o // groups), pg.transpose(1, 0, 2))
        write(p, n0, tile)

    team.each(count, chunk, threads)
    for cols, prod, _, per_group in scratch:
        scrap(cols)
        scrap(prod)
        if per_group is not None:
            scrap(per_group)
    return out


def backward(
    x: np.ndarray, w: np.ndarray, dout: np.ndarray, g: Geometry, groups: int, want_dx: bool, want_dw: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """conv2d's input and filter gradients (None where not wanted)."""
    x, wm, dout = np.ascontiguousarray(x), _filter_matrix(w, groups), np.ascontiguousarray(dout)
    (n, o), (oh, ow), kg = (x.shape[0], w.shape[0]), g.out, wm.shape[2]
    k, og = groups * kg, o // groups
    fill, unfill = conv_loops.patches(g, x.shape[3]), conv_loops.patches(g, x.shape[3], back=True)
    read = conv_loops.gather(dout)
    nb = min(n, _chunk(g, k, x.itemsize))
    count = -(-n // nb)
    threads = min(count, team.threads_for(n * oh * ow * kg * o * (want_dx + want_dw)))
    dx = empty(x.shape, x.dtype) if want_dx else None
    dw = zeros((groups, og, kg), w.dtype) if want_dw else None
    # One thread adds each chunk's filter gradient to dw as it goes; threads keep one per
    # chunk, added up afterwards in chunk order: the same sums, in the same order.
    parts = empty((count if threads > 1 else 1, groups, og, kg), w.dtype) if want_dw else None
    scratch = [(empty((o * nb * oh * ow,), x.dtype), empty((k * nb * oh * ow,), x.dtype)) for _ in range(threads)]

    def chunk(i: int, slot: int) -> None:
        d_flat, cols = scratch[slot]
        n0 = i * nb
        n1 = min(n, n0 + nb)
        m = (n1 - n0) * oh * ow
        d, c = d_flat[: o * m].reshape(o, m), cols[: k * m].reshape(k, m)  # c: patches, then their gradient
        read(d, n0)
        dg, cg = d.reshape(groups, og, m), c.reshape(groups, kg, m)
        if dw is not None:
            fill(x, c, n0)
            part = matmul_per_group(dg, cg.transpose(0, 2, 1), parts[i if threads > 1 else 0])
            if threads == 1:
                np.add(dw, part, out=dw)
        if dx is not None:
            matmul_per_group(wm.transpose(0, 2, 1), dg, cg)
            dx[n0:n1].fill(0)
            unfill(dx, c, n0)

    team.each(count, chunk, threads)
    if dw is not None and threads > 1:
        for part in parts:
            dw += part
    for d_flat, cols in scratch:
        scrap(d_flat)
        scrap(cols)
    if parts is not None:
        scrap(parts)
    return dx, None if dw is None else dw.reshape(w.shape)
