"""Expert hand-written numpy for W2-W5: the yardstick the benchmark's ratios are taken against.

`reference.py` is the straightforward code (NCHW broadcasting, `np.pad`, reductions with
`mean`); this module is what a numpy expert writes for speed, computing the same numbers:

- activations are channels-last matrices [N*H*W, C]: a convolution is one GEMM over the whole
  batch, patches [N*H*W, k*k*C] @ weights [k*k*C, O], landing in that layout with no transpose;
  the fc after the last pool takes its weight rows permuted to (h, w, c) order once;
- batch_norm's per-channel sums and dot products are BLAS matrix-vector products (`ones @ M`),
  it is applied as y = a*x + b (per-channel a, b), its backward as dx = A*dy + B*xc + C, with
  at most two full-size temporaries;
- 2x2 max-pools are pairwise `np.maximum` on strided views, their backward (with relu's
  folded in) one `multiply` per window position into the strided views of the gradient;
- conv bias (the folded batch_norm's, in W5) is added to the GEMM output in place.

Weights are kept in these layouts between steps (converted once by `setup`); the workload
modules give every implementation the same initial values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import reference as ref

EPS = np.float32(ref.EPS)
MOMENTUM = ref.MOMENTUM
F32 = np.float32

# --- batch_norm on a channels-last matrix [M, C] --------------------------------------------


def _ones(m: int, cache: dict[int, np.ndarray] = {}) -> np.ndarray:  # noqa: B006 - a deliberate memo
    if m not in cache:
        cache[m] = np.ones(m, dtype=F32)
    return cache[m]


def bn_train(h: np.ndarray, g: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Training batch_norm of `h` [M, C], which it centres in place (kept for backward).
    Returns y (a new array) and the cache (xc, inv_std, mean, var)."""
    m = h.shape[0]
    ones = _ones(m)
    mu = (ones @ h) / F32(m)
    h -= mu  # h is now xc
    y = np.square(h)
    var = (ones @ y) / F32(m)
    inv = F32(1) / np.sqrt(var + EPS)
    np.multiply(h, g * inv, out=y)
    y += beta
    return y, (h, inv, mu, var)


def bn_train_backward(dy: np.ndarray, cache: tuple[Any, ...], g: np.ndarray) -> tuple[np.ndarray, ...]:
    """dx, dgamma, dbeta; `dy` [M, C] is overwritten."""
    xc, inv = cache[0], cache[1]
    m = dy.shape[0]
    ones = _ones(m)
    dbeta = ones @ dy
    t = np.multiply(dy, xc)
    dgamma = (ones @ t) * inv
    a = g * inv
    np.multiply(dy, a, out=t)
    np.multiply(xc, -a * inv * dgamma / F32(m), out=dy)
    t += dy
    t += -a * dbeta / F32(m)
    return t, dgamma, dbeta


def update_running(w: dict[str, np.ndarray], k: str, mu: np.ndarray, var: np.ndarray) -> None:
    w[f"rm{k}"] = MOMENTUM * w[f"rm{k}"] + (1 - MOMENTUM) * mu
    w[f"rv{k}"] = MOMENTUM * w[f"rv{k}"] + (1 - MOMENTUM) * var


# --- W2: MLP train step --------------------------------------------------------------------


def mlp_setup(w: dict[str, np.ndarray], x: np.ndarray, label: np.ndarray, lr: float) -> Callable[[], float]:
    w = {k: v.copy() for k, v in w.items()}
    lr32 = F32(lr)

    def layer(inp: np.ndarray, k: str) -> tuple[np.ndarray, tuple[Any, ...]]:
        # fc bias then batch_norm: the bias only shifts the batch mean (it cancels in y)
        y, c = bn_train(inp @ w[f"w{k}"], w[f"g{k}"], w[f"be{k}"])
        np.maximum(y, 0, out=y)
        update_running(w, k, c[2] + w[f"b{k}"], c[3])
        return y, c

    def grads(dy: np.ndarray, a: np.ndarray, c: tuple[Any, ...], k: str, inp: np.ndarray) -> np.ndarray:
        dy *= a > 0
        dh, dg, db = bn_train_backward(dy, c, w[f"g{k}"])
        gw, gb = inp.T @ dh, _ones(dh.shape[0]) @ dh
        w[f"g{k}"] -= lr32 * dg
        w[f"be{k}"] -= lr32 * db
        return dh, gw, gb

    def step() -> float:
        a1, c1 = layer(x, "1")
        a2, c2 = layer(a1, "2")
        logits = a2 @ w["w3"]
        logits += w["b3"]
        loss, dlogits = ref.softmax_ce(logits, label)
        gw3, gb3 = a2.T @ dlogits, dlogits.sum(axis=0)
        da2 = dlogits @ w["w3"].T
        dh2, gw2, gb2 = grads(da2, a2, c2, "2", a1)
        da1 = dh2 @ w["w2"].T
        _, gw1, gb1 = grads(da1, a1, c1, "1", x)
        for k, gr in (("w3", gw3), ("b3", gb3), ("w2", gw2), ("b2", gb2), ("w1", gw1), ("b1", gb1)):
            w[k] -= lr32 * gr
        return loss

    return step


# --- convolution and pooling on channels-last activations [N, H, W, C] ----------------------


def conv_matrix(w: np.ndarray) -> np.ndarray:
    """[O, C, k, k] -> [k*k*C, O], rows ordered (i, j, c) like `patches`."""
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0]))


def conv_weight(wm: np.ndarray, c: int, k: int = 3) -> np.ndarray:
    """The inverse of `conv_matrix`."""
    return wm.reshape(k, k, c, -1).transpose(3, 2, 0, 1)


def patches(x: np.ndarray, k: int = 3, pad: int = 1) -> np.ndarray:
    """[N, H, W, C] -> [N*H*W, k*k*C] (stride 1, same size), filled by k*k slice copies."""
    n, h, wd, c = x.shape
    xp = np.zeros((n, h + 2 * pad, wd + 2 * pad, c), dtype=x.dtype)
    xp[:, pad : pad + h, pad : pad + wd] = x
    cols = np.empty((n, h, wd, k, k, c), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, :, i, j] = xp[:, i : i + h, j : j + wd]
    return cols.reshape(n * h * wd, k * k * c)


def patches_backward(dcols: np.ndarray, shape: tuple[int, ...], k: int = 3, pad: int = 1) -> np.ndarray:
    n, h, wd, c = shape
    d = dcols.reshape(n, h, wd, k, k, c)
    dxp = np.zeros((n, h + 2 * pad, wd + 2 * pad, c), dtype=dcols.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, i : i + h, j : j + wd] += d[:, :, :, i, j]
    return dxp[:, pad : pad + h, pad : pad + wd]


def pool2(a: np.ndarray) -> np.ndarray:
    """2x2 stride-2 max-pool of [N, H, W, C] by pairwise maxima of strided views."""
    n, h, wd, c = a.shape
    v = a.reshape(n, h // 2, 2, wd // 2, 2, c)
    out = np.maximum(v[:, :, 0, :, 0], v[:, :, 0, :, 1])
    np.maximum(out, v[:, :, 1, :, 0], out=out)
    np.maximum(out, v[:, :, 1, :, 1], out=out)
    return out


def pool2_relu_backward(dp: np.ndarray, a: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Gradient w.r.t. the pre-relu activation: dp to each window's max where it is > 0."""
    n, h, wd, c = a.shape
    dpm = dp * (p > 0)
    da = np.empty_like(a)
    v, dv = a.reshape(n, h // 2, 2, wd // 2, 2, c), da.reshape(n, h // 2, 2, wd // 2, 2, c)
    for i in range(2):
        for j in range(2):
            np.multiply(dpm, v[:, :, i, :, j] == p, out=dv[:, :, i, :, j])
    return da


def fc_rows_hwc(fw: np.ndarray, c: int, hw: int) -> np.ndarray:
    """fc weight rows from NCHW-flatten order (c, h, w) to channels-last order (h, w, c)."""
    return np.ascontiguousarray(fw.reshape(c, hw, hw, -1).transpose(1, 2, 0, 3).reshape(fw.shape))


# --- W3: CNN train step ----------------------------------------------------------------------


def cnn_setup(w: dict[str, np.ndarray], x: np.ndarray, label: np.ndarray, lr: float) -> Callable[[], float]:
    c0, c1, c2 = w["c1"].shape[1], w["c1"].shape[0], w["c2"].shape[0]
    hw4 = x.shape[2] // 4
    p = {k: v.copy() for k, v in w.items()}
    p["c1"], p["c2"], p["fw"] = conv_matrix(w["c1"]), conv_matrix(w["c2"]), fc_rows_hwc(w["fw"], c2, hw4)
    lr32 = F32(lr)

    def block(inp: np.ndarray, k: str, cout: int) -> tuple[Any, ...]:
        n, h, wd, _ = inp.shape
        cols = patches(inp)
        y, cache = bn_train(cols @ p[f"c{k}"], p[f"g{k}"], p[f"be{k}"])
        np.maximum(y, 0, out=y)
        a = y.reshape(n, h, wd, cout)
        update_running(p, k, cache[2], cache[3])
        return cols, cache, a, pool2(a)

    def block_backward(dp: np.ndarray, blk: tuple[Any, ...], k: str) -> np.ndarray:
        cols, cache, a, pooled = blk
        da = pool2_relu_backward(dp, a, pooled).reshape(-1, a.shape[3])
        dh, dg, db = bn_train_backward(da, cache, p[f"g{k}"])
        p[f"g{k}"] -= lr32 * dg
        p[f"be{k}"] -= lr32 * db
        return dh

    def step() -> float:
        xl = x.transpose(0, 2, 3, 1)
        b1 = block(xl, "1", c1)
        b2 = block(b1[3], "2", c2)
        flat = b2[3].reshape(x.shape[0], -1)
        logits = flat @ p["fw"]
        logits += p["fb"]
        loss, dlogits = ref.softmax_ce(logits, label)
        gfw, gfb = flat.T @ dlogits, dlogits.sum(axis=0)
        dp2 = (dlogits @ p["fw"].T).reshape(b2[3].shape)
        dh2 = block_backward(dp2, b2, "2")
        gc2 = b2[0].T @ dh2
        dp1 = patches_backward(dh2 @ p["c2"].T, b1[3].shape)
        dh1 = block_backward(dp1, b1, "1")
        gc1 = b1[0].T @ dh1
        p["fw"] -= lr32 * gfw
        p["fb"] -= lr32 * gfb
        p["c2"] -= lr32 * gc2
        p["c1"] -= lr32 * gc1
        return loss

    del c0
    return step


# --- W4: batch_norm forward + backward on NCHW data -----------------------------------------


def bn_nchw_setup(w: dict[str, np.ndarray], x: np.ndarray, dy: np.ndarray, full: bool) -> Callable[[], Any]:
    """Training batch_norm of x [N, C, H, W] and its backward for the given dY. Per-channel
    sums are one GEMV over the [N*C, H*W] view, then a sum over N."""
    n, c = x.shape[:2]
    m = x.size // c
    p = {k: v.copy() for k, v in w.items()}
    ones = _ones(x.size // (n * c))
    x3, dy3 = x.reshape(n, c, -1), dy.reshape(n, c, -1)

    def csum(a: np.ndarray) -> np.ndarray:
        return (a.reshape(n * c, -1) @ ones).reshape(n, c).sum(axis=0)

    def step() -> Any:
        mu = csum(x3) / F32(m)
        xc = x3 - mu[:, None]
        t = np.square(xc)
        var = csum(t) / F32(m)
        inv = F32(1) / np.sqrt(var + EPS)
        a = p["g"] * inv
        y = np.multiply(xc, a[:, None], out=t)
        y += p["be"][:, None]
        dbeta = csum(dy3)
        t2 = np.multiply(dy3, xc)
        dgamma = csum(t2) * inv
        dx = np.multiply(dy3, a[:, None])
        np.multiply(xc, (-a * inv * dgamma / F32(m))[:, None], out=t2)
        dx += t2
        dx += (-a * dbeta / F32(m))[:, None]
        update_running(p, "", mu, var)
        if full:
            return y.reshape(x.shape), dx.reshape(x.shape), dgamma, dbeta, p["rm"], p["rv"]
        return dgamma, dbeta

    return step


# --- W5: the CNN in test mode, batch_norm folded into the convolutions ----------------------


def cnn_infer_setup(w: dict[str, np.ndarray], x: np.ndarray) -> Callable[[], np.ndarray]:
    """Folded once (outside the step, as a saved inference model is); each step: conv GEMM,
    bias + relu in place on its output, pairwise pool, fc."""
    f = ref.fold_cnn(w)
    c2 = f["c2"].shape[0]
    mats = [(conv_matrix(f["c1"]), f["b1"]), (conv_matrix(f["c2"]), f["b2"])]
    fw = fc_rows_hwc(f["fw"], c2, x.shape[2] // 4)

    def step() -> np.ndarray:
        a = x.transpose(0, 2, 3, 1)
        for wm, b in mats:
            n, h, wd, _ = a.shape
            out = patches(a) @ wm
            out += b
            np.maximum(out, 0, out=out)
            a = pool2(out.reshape(n, h, wd, -1))
        logits = a.reshape(a.shape[0], -1) @ fw
        logits += f["fb"]
        return logits

    return step
