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
`filter [O, K] @ patches` gives [O, pixels], and the epilogue copies each channel's runs
into NCHW, adding the bias, applying relu and max-pooling 2x2 windows on the way when the
fused op asks for them, while the chunk is still in cache. (Rows per pixel would suit BLAS
slightly better, but writing them scatters and measured slower overall.)
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


def _split(n: int, nb: int, work: int) -> list[tuple[int, int]]:
    """The batch's samples cut for the threads this run lends to `work` multiply-adds
    (ops/team.py), in whole chunks: each thread works through its own chunks, the same
    chunks one thread would."""
    return team.bounds(n, team.threads_for(work), nb)


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

    def samples(lo: int, hi: int, cols: np.ndarray, prod: np.ndarray) -> None:
        for n0 in range(lo, hi, nb):
            m = min(nb, hi - n0) * oh * ow
            c = cols[: k * m].reshape(k, m)
            fill(x, c, n0)
            p = matmul_per_group(wm, c.reshape(groups, kg, m), prod[: o * m].reshape(groups, o // groups, m))
            write(p.reshape(o, m), n0)

    parts = [
        (lo, hi, empty((k * nb * oh * ow,), x.dtype), empty((o * nb * oh * ow,), x.dtype))
        for lo, hi in _split(n, nb, n * oh * ow * kg * o)
    ]
    team.run(parts, samples)
    for part in parts:
        scrap(part[2])
        scrap(part[3])
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
    dx = empty(x.shape, x.dtype) if want_dx else None

    def samples(lo: int, hi: int, d_flat: np.ndarray, cols: np.ndarray, dw: Any, part: Any) -> None:
        for n0 in range(lo, hi, nb):
            n1 = min(hi, n0 + nb)
            m = (n1 - n0) * oh * ow
            d, c = d_flat[: o * m].reshape(o, m), cols[: k * m].reshape(k, m)  # c: patches, then their gradient
            read(d, n0)
            dg, cg = d.reshape(groups, og, m), c.reshape(groups, kg, m)
            if dw is not None:
                fill(x, c, n0)
                dw += matmul_per_group(dg, cg.transpose(0, 2, 1), part)
            if dx is not None:
                matmul_per_group(wm.transpose(0, 2, 1), dg, cg)
                dx[n0:n1].fill(0)
                unfill(dx, c, n0)

    parts = [
        (
            lo,
            hi,
            empty((o * nb * oh * ow,), x.dtype),
            empty((k * nb * oh * ow,), x.dtype),
            zeros((groups, og, kg), w.dtype) if want_dw else None,
            empty((groups, og, kg), w.dtype) if want_dw else None,
        )
        for lo, hi in _split(n, nb, n * oh * ow * kg * o * (want_dx + want_dw))
    ]
    team.run(parts, samples)
    dw = parts[0][4]
    for part in parts:
        scrap(part[2])
        scrap(part[3])
        if want_dw:
            scrap(part[5])
            if part is not parts[0]:
                dw += part[4]  # each thread's sum over its samples
    return dx, None if dw is None else dw.reshape(w.shape)
