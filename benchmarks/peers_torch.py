"""PyTorch (eager, CPU) versions of the workloads: an optional peer, run only when `torch`
imports. minigraph does not depend on it; install it in a separate environment and run
`run.py` there with minigraph on the path if you want its numbers.

Same initial weights and data as the numpy reference; layouts converted where PyTorch's
differ (Linear weight is [out, in]).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
from common import Unavailable

try:
    import torch
    import torch.nn.functional as F  # noqa: N812
except ImportError:  # pragma: no cover - depends on the environment
    torch = None


def _need() -> Any:
    if torch is None:
        raise Unavailable("torch is not installed")
    torch.set_num_threads(int(os.environ.get("MG_BENCH_THREADS", "2")))
    return torch


def chain(x: np.ndarray, y: np.ndarray, n: int) -> Callable[[], Any]:
    t = _need()
    xt, yt = t.from_numpy(x), t.from_numpy(y)

    def step() -> np.ndarray:
        with t.no_grad():
            h = xt
            for _ in range(n):
                h = h + yt
        return h.numpy()

    return step


def _params(w: dict[str, np.ndarray]) -> dict[str, Any]:
    t = _need()
    out = {}
    for k, v in w.items():
        p = t.tensor(v.copy())
        p.requires_grad_(not k.startswith(("rm", "rv")))
        out[k] = p
    return out


def _bn(p: dict[str, Any], k: str, h: Any, training: bool) -> Any:
    return F.batch_norm(h, p[f"rm{k}"], p[f"rv{k}"], p[f"g{k}"], p[f"be{k}"], training, 0.1, 1e-5)


def _sgd(p: dict[str, Any], lr: float) -> None:
    with torch.no_grad():
        for v in p.values():
            if v.grad is not None:
                v -= lr * v.grad
                v.grad = None


def mlp_step(w: dict[str, np.ndarray], x: np.ndarray, label: np.ndarray, lr: float) -> Callable[[], Any]:
    t = _need()
    p = _params(w)
    xt, lt = t.from_numpy(x), t.from_numpy(label.ravel())

    def step() -> float:
        h = F.relu(_bn(p, "1", xt @ p["w1"] + p["b1"], True))
        h = F.relu(_bn(p, "2", h @ p["w2"] + p["b2"], True))
        loss = F.cross_entropy(h @ p["w3"] + p["b3"], lt)
        loss.backward()
        _sgd(p, lr)
        return float(loss)

    return step


def _cnn_forward(p: dict[str, Any], xt: Any, training: bool) -> Any:
    h = F.max_pool2d(F.relu(_bn(p, "1", F.conv2d(xt, p["c1"], padding=1), training)), 2)
    h = F.max_pool2d(F.relu(_bn(p, "2", F.conv2d(h, p["c2"], padding=1), training)), 2)
    return h.flatten(1) @ p["fw"] + p["fb"]


def cnn_step(w: dict[str, np.ndarray], x: np.ndarray, label: np.ndarray, lr: float) -> Callable[[], Any]:
    t = _need()
    p = _params(w)
    xt, lt = t.from_numpy(x), t.from_numpy(label.ravel())

    def step() -> float:
        loss = F.cross_entropy(_cnn_forward(p, xt, True), lt)
        loss.backward()
        _sgd(p, lr)
        return float(loss)

    return step


def cnn_infer(w: dict[str, np.ndarray], x: np.ndarray) -> Callable[[], Any]:
    t = _need()
    p = _params(w)
    xt = t.from_numpy(x)

    def step() -> np.ndarray:
        with t.inference_mode():
            return _cnn_forward(p, xt, False).numpy()

    return step


def bn_step(w: dict[str, np.ndarray], x: np.ndarray, dy: np.ndarray, full: bool) -> Callable[[], Any]:
    t = _need()
    p = _params(w)
    xt, dyt = t.from_numpy(x).requires_grad_(True), t.from_numpy(dy)

    def step() -> Any:
        y = _bn(p, "", xt, True)
        dx, dg, db = t.autograd.grad(y, [xt, p["g"], p["be"]], dyt)
        if full:
            # None: PyTorch blends the unbiased batch variance into the running variance
            # (Paddle and minigraph the biased one), so that value is not comparable.
            return y.detach().numpy(), dx.numpy(), dg.numpy(), db.numpy(), p["rm"].numpy().copy(), None
        return dg.numpy(), db.numpy()

    return step
