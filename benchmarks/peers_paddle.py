"""Paddle static-mode (fluid) versions of W2-W5: an optional peer, run only when `paddle`
imports (not a dependency; `benchmarks/requirements-peers.txt` lists it as optional).

Each workload is built the way a fluid user writes it (fc / conv2d, batch_norm with act,
pool2d, softmax cross-entropy, SGD minimize; `gradients` with target gradients for W4;
`clone(for_test=True)` for W5), in legacy static mode (FLAGS_enable_pir_api=0), with the
same initial weights as the numpy reference, set by parameter name in the peer's own scope.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
from common import Unavailable

os.environ.setdefault("FLAGS_enable_pir_api", "0")  # the legacy static graph (Program, fluid ops)
try:
    import paddle
except ImportError:  # pragma: no cover - depends on the environment
    paddle = None

MOMENTUM, EPS = 0.9, 1e-5


def _need() -> Any:
    if paddle is None:
        raise Unavailable("paddle is not installed")
    paddle.enable_static()
    return paddle


def _attr(name: str) -> Any:
    return paddle.ParamAttr(name=name)


def _bn(h: Any, k: str, act: str | None, is_test: bool = False) -> Any:
    return paddle.static.nn.batch_norm(
        h,
        act=act,
        is_test=is_test,
        momentum=MOMENTUM,
        epsilon=EPS,
        param_attr=_attr(f"g{k}"),
        bias_attr=_attr(f"be{k}"),
        moving_mean_name=f"rm{k}",
        moving_variance_name=f"rv{k}",
    )


class _Program:
    """A built program, its executor and scope, with `w` set by parameter name."""

    def __init__(self, build: Callable[[], Any], w: dict[str, np.ndarray]) -> None:
        pd = _need()
        self.main, startup = pd.static.Program(), pd.static.Program()
        startup.random_seed = self.main.random_seed = 1
        with pd.static.program_guard(self.main, startup):
            self.fetch = build()
        self.scope, place = pd.static.Scope(), pd.CPUPlace()
        self.exe = pd.static.Executor(place)
        self.exe.run(startup, scope=self.scope)
        for name, value in w.items():
            self.scope.find_var(name).get_tensor().set(value.copy(), place)

    def run(self, feed: dict[str, np.ndarray], program: Any = None) -> list[np.ndarray]:
        return self.exe.run(program or self.main, feed=feed, fetch_list=self.fetch, scope=self.scope)


def _train_step(
    build: Callable[[Any], Any], shape: list[int], w: dict[str, np.ndarray], x: Any, label: Any, lr: float
) -> Callable[[], float]:
    def program() -> Any:
        xs = paddle.static.data("x", [None, *shape], "float32")
        ls = paddle.static.data("label", [None, 1], "int64")
        loss = paddle.mean(paddle.nn.functional.cross_entropy(build(xs), ls))
        paddle.optimizer.SGD(lr).minimize(loss)
        return [loss]

    p = _Program(program, w)
    feed = {"x": x, "label": label}
    return lambda: float(p.run(feed)[0])


def _mlp(xs: Any, w: dict[str, np.ndarray]) -> Any:
    h = xs
    for k in ("1", "2", "3"):
        h = paddle.static.nn.fc(h, w[f"w{k}"].shape[1], weight_attr=_attr(f"w{k}"), bias_attr=_attr(f"b{k}"))
        h = _bn(h, k, "relu") if k != "3" else h
    return h


def mlp_step(w: dict[str, np.ndarray], x: np.ndarray, label: np.ndarray, lr: float) -> Callable[[], Any]:
    _need()
    return _train_step(lambda xs: _mlp(xs, w), [x.shape[1]], w, x, label, lr)


def _cnn(xs: Any, w: dict[str, np.ndarray], is_test: bool) -> Any:
    h = xs
    for k in ("1", "2"):
        c = w[f"c{k}"]
        h = paddle.static.nn.conv2d(h, c.shape[0], 3, padding=1, param_attr=_attr(f"c{k}"), bias_attr=False)
        h = paddle.nn.functional.max_pool2d(_bn(h, k, "relu", is_test), 2, 2)
    return paddle.static.nn.fc(h, w["fw"].shape[1], weight_attr=_attr("fw"), bias_attr=_attr("fb"))


def cnn_step(w: dict[str, np.ndarray], x: np.ndarray, label: np.ndarray, lr: float) -> Callable[[], Any]:
    _need()
    return _train_step(lambda xs: _cnn(xs, w, False), list(x.shape[1:]), w, x, label, lr)


def cnn_infer(w: dict[str, np.ndarray], x: np.ndarray) -> Callable[[], Any]:
    _need()

    def program() -> Any:
        return [_cnn(paddle.static.data("x", [None, *x.shape[1:]], "float32"), w, False)]

    p = _Program(program, w)
    test = p.main.clone(for_test=True)  # running statistics, as a deployed model uses
    feed = {"x": x}
    return lambda: p.run(feed, test)[0]


def bn_step(w: dict[str, np.ndarray], x: np.ndarray, dy: np.ndarray, full: bool) -> Callable[[], Any]:
    _need()

    def program() -> Any:
        xs = paddle.static.data("x", [None, *x.shape[1:]], "float32")
        xs.stop_gradient = False
        dys = paddle.static.data("dy", [None, *x.shape[1:]], "float32")
        y = _bn(xs, "", None)
        block = paddle.static.default_main_program().global_block()
        dx, dg, db = paddle.static.gradients([y], [xs, block.var("g"), block.var("be")], target_gradients=[dys])
        return [y, dx, dg, db, block.var("rm"), block.var("rv")] if full else [dg, db]

    p = _Program(program, w)
    feed = {"x": x, "dy": dy}
    return lambda: tuple(p.run(feed))
