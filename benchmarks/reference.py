"""Hand-written numpy references for the benchmark workloads.

Each function is the computation as a competent numpy programmer writes it directly, without
a framework: the yardstick every engine is measured against. They are deliberately plain
(broadcasting, `np.pad`, an im2col matrix kept from forward to backward, in-place SGD), and
they compute the same numbers as minigraph's programs, which `run.py` checks before timing.

Weights are dicts of arrays keyed by role (`w1`, `g1`, `rm1`, ...); the workload modules
give minigraph the same initial values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

EPS = 1e-5
MOMENTUM = 0.9

# --- W1: a chain of elementwise adds --------------------------------------------------------


def chain(x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    a = x
    for _ in range(n):
        a = a + y
    return a


# --- batch_norm: the straightforward two-pass version --------------------------------------


def bn_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, axes: tuple[int, ...]
) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Training-mode batch_norm over `axes` (channels on the remaining axis), two-pass variance."""
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + x.dtype.type(EPS))
    xhat = xc * inv_std
    shape = mu.shape
    y = xhat * gamma.reshape(shape) + beta.reshape(shape)
    return y, (xhat, inv_std, mu.ravel(), var.ravel())


def bn_backward(
    dy: np.ndarray, cache: tuple[Any, ...], gamma: np.ndarray, axes: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xhat, inv_std = cache[0], cache[1]
    shape = inv_std.shape
    m = dy.size // gamma.size
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    dx = (gamma.reshape(shape) * inv_std / m) * (m * dy - dbeta.reshape(shape) - xhat * dgamma.reshape(shape))
    return dx, dgamma, dbeta


def bn_update_running(w: dict[str, np.ndarray], k: str, cache: tuple[Any, ...]) -> None:
    mu, var = cache[2], cache[3]
    w[f"rm{k}"] = MOMENTUM * w[f"rm{k}"] + (1 - MOMENTUM) * mu
    w[f"rv{k}"] = MOMENTUM * w[f"rv{k}"] + (1 - MOMENTUM) * var


def bn_fold(
    w: np.ndarray, b: np.ndarray | None, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fold running-statistics batch_norm into the preceding conv (w [O, ...]) and its bias."""
    k = gamma / np.sqrt(var + w.dtype.type(EPS))
    b0 = np.zeros_like(mean) if b is None else b
    return w * k.reshape((-1,) + (1,) * (w.ndim - 1)), (b0 - mean) * k + beta


# --- softmax cross-entropy -----------------------------------------------------------------


def softmax_ce(logits: np.ndarray, label: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of int labels [N, 1] and its gradient w.r.t. the logits."""
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    idx = label.ravel()
    loss = (np.log(s).ravel() - shifted[np.arange(n), idx]).mean()
    dlogits = e / s
    dlogits[np.arange(n), idx] -= 1
    dlogits /= n
    return float(loss), dlogits


def sgd(w: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float) -> None:
    for k, g in grads.items():
        w[k] -= w[k].dtype.type(lr) * g


# --- W2: MLP train step ---------------------------------------------------------------------


def mlp_step(w: dict[str, np.ndarray], x: np.ndarray, label: np.ndarray, lr: float) -> float:
    """fc -> BN -> relu, fc -> BN -> relu, fc, softmax CE, SGD (updates `w` in place)."""
    h1 = x @ w["w1"] + w["b1"]
    y1, c1 = bn_forward(h1, w["g1"], w["be1"], (0,))
    a1 = np.maximum(y1, 0)
    h2 = a1 @ w["w2"] + w["b2"]
    y2, c2 = bn_forward(h2, w["g2"], w["be2"], (0,))
    a2 = np.maximum(y2, 0)
    logits = a2 @ w["w3"] + w["b3"]
    loss, dlogits = softmax_ce(logits, label)
    g: dict[str, np.ndarray] = {"w3": a2.T @ dlogits, "b3": dlogits.sum(axis=0)}
    da2 = dlogits @ w["w3"].T
    dh2, g["g2"], g["be2"] = bn_backward(da2 * (a2 > 0), c2, w["g2"], (0,))
    g["w2"], g["b2"] = a1.T @ dh2, dh2.sum(axis=0)
    da1 = dh2 @ w["w2"].T
    dh1, g["g1"], g["be1"] = bn_backward(da1 * (a1 > 0), c1, w["g1"], (0,))
    g["w1"], g["b1"] = x.T @ dh1, dh1.sum(axis=0)
    bn_update_running(w, "1", c1)
    bn_update_running(w, "2", c2)
    sgd(w, g, lr)
    return loss


# --- W3: CNN train step -----------------------------------------------------------------------


def im2col(x: np.ndarray, k: int, pad: int) -> np.ndarray:
    """[N, C, H, W] -> [N*H'*W', C*k*k] patches (stride 1), columns ordered (c, i, j)."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(xp, (k, k), axis=(2, 3))  # N, C, H', W', k, k
    oh, ow = win.shape[2], win.shape[3]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * k * k)


def col2im(dcols: np.ndarray, x_shape: tuple[int, ...], k: int, pad: int) -> np.ndarray:
    n, c, h, wd = x_shape
    oh, ow = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    d = dcols.reshape(n, oh, ow, c, k, k)
    dxp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), dtype=dcols.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i : i + oh, j : j + ow] += d[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dxp[:, :, pad : pad + h, pad : pad + wd]


def conv_forward(x: np.ndarray, w: np.ndarray, pad: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """3x3 stride-1 convolution as im2col + one matmul; returns NCHW output and the columns."""
    n, _, h, wd = x.shape
    o, _, k, _ = w.shape
    cols = im2col(x, k, pad)
    out = cols @ w.reshape(o, -1).T  # [N*H*W, O]
    oh, ow = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    return out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2), cols


def conv_backward(
    dout: np.ndarray, cols: np.ndarray, x_shape: tuple[int, ...], w: np.ndarray, need_dx: bool, pad: int = 1
) -> tuple[np.ndarray | None, np.ndarray]:
    o = w.shape[0]
    d = dout.transpose(0, 2, 3, 1).reshape(-1, o)
    dw = (d.T @ cols).reshape(w.shape)
    dx = col2im(d @ w.reshape(o, -1), x_shape, w.shape[2], pad) if need_dx else None
    return dx, dw


def maxpool2(x: np.ndarray) -> np.ndarray:
    n, c, h, wd = x.shape
    return x.reshape(n, c, h // 2, 2, wd // 2, 2).max(axis=(3, 5))


def maxpool2_backward(dout: np.ndarray, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    n, c, h, wd = x.shape
    xr = x.reshape(n, c, h // 2, 2, wd // 2, 2)
    mask = xr == out[:, :, :, None, :, None]
    return (mask * dout[:, :, :, None, :, None]).reshape(x.shape)


NCHW_AXES = (0, 2, 3)


def cnn_step(w: dict[str, np.ndarray], x: np.ndarray, label: np.ndarray, lr: float) -> float:
    """[conv3x3 + BN + relu + maxpool2] x 2, fc, softmax CE, SGD (updates `w` in place)."""
    h1, cols1 = conv_forward(x, w["c1"])
    y1, bc1 = bn_forward(h1, w["g1"], w["be1"], NCHW_AXES)
    a1 = np.maximum(y1, 0)
    p1 = maxpool2(a1)
    h2, cols2 = conv_forward(p1, w["c2"])
    y2, bc2 = bn_forward(h2, w["g2"], w["be2"], NCHW_AXES)
    a2 = np.maximum(y2, 0)
    p2 = maxpool2(a2)
    flat = p2.reshape(p2.shape[0], -1)
    logits = flat @ w["fw"] + w["fb"]
    loss, dlogits = softmax_ce(logits, label)
    g: dict[str, np.ndarray] = {"fw": flat.T @ dlogits, "fb": dlogits.sum(axis=0)}
    dp2 = (dlogits @ w["fw"].T).reshape(p2.shape)
    da2 = maxpool2_backward(dp2, a2, p2)
    dh2, g["g2"], g["be2"] = bn_backward(da2 * (a2 > 0), bc2, w["g2"], NCHW_AXES)
    dp1, g["c2"] = conv_backward(dh2, cols2, p1.shape, w["c2"], need_dx=True)
    da1 = maxpool2_backward(dp1, a1, p1)
    dh1, g["g1"], g["be1"] = bn_backward(da1 * (a1 > 0), bc1, w["g1"], NCHW_AXES)
    _, g["c1"] = conv_backward(dh1, cols1, x.shape, w["c1"], need_dx=False)
    bn_update_running(w, "1", bc1)
    bn_update_running(w, "2", bc2)
    sgd(w, g, lr)
    return loss


# --- W5: the CNN in test mode, batch_norm folded into the convolutions ----------------------


def fold_cnn(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    c1, b1 = bn_fold(w["c1"], None, w["g1"], w["be1"], w["rm1"], w["rv1"])
    c2, b2 = bn_fold(w["c2"], None, w["g2"], w["be2"], w["rm2"], w["rv2"])
    return {"c1": c1, "b1": b1, "c2": c2, "b2": b2, "fw": w["fw"], "fb": w["fb"]}


def cnn_infer_folded(f: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Logits of the CNN in test mode, with the pre-folded weights of `fold_cnn`."""
    h, _ = conv_forward(x, f["c1"])
    p = maxpool2(np.maximum(h + f["b1"].reshape(1, -1, 1, 1), 0))
    h, _ = conv_forward(p, f["c2"])
    p = maxpool2(np.maximum(h + f["b2"].reshape(1, -1, 1, 1), 0))
    return p.reshape(p.shape[0], -1) @ f["fw"] + f["fb"]
