"""Plumbing shared by the workload modules: seeded weights, static and eager runners.

A workload module defines `NAME`, `TITLE`, `IMPLS`, `sizes(quick)`, and
`setup(impl, quick, full=False) -> step`, where `step()` runs one repetition and returns
what the equality check compares (with `full=True`, everything worth comparing). `setup`
raises `Unavailable` for an implementation that cannot run here (a peer not installed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

SEED = 2024


class Unavailable(Exception):
    """This implementation cannot run in this environment (e.g. its framework is missing)."""


def rng(offset: int = 0) -> np.random.Generator:
    return np.random.default_rng(SEED + offset)


def normal(g: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    return (g.standard_normal(shape) * std).astype(np.float32)


def bn_weights(g: np.random.Generator, k: str, c: int) -> dict[str, np.ndarray]:
    """Non-trivial batch_norm parameters and running statistics for channel count `c`, so
    that folding and the running-statistics update are really exercised."""
    return {
        f"g{k}": (1.0 + 0.1 * g.standard_normal(c)).astype(np.float32),
        f"be{k}": (0.1 * g.standard_normal(c)).astype(np.float32),
        f"rm{k}": (0.1 * g.standard_normal(c)).astype(np.float32),
        f"rv{k}": g.uniform(0.5, 1.5, c).astype(np.float32),
    }


def bn_names(bn: Any, k: str) -> dict[str, str]:
    """role -> parameter name for a minigraph BatchNorm layer."""
    return {
        f"g{k}": bn.weight.name,
        f"be{k}": bn.bias.name,
        f"rm{k}": bn.moving_mean.name,
        f"rv{k}": bn.moving_variance.name,
    }


def copy_weights(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in w.items()}


class Static:
    """A built static program with its own scope and executor, weights set by role."""

    def __init__(self, build: Callable[[], tuple[Any, Any, dict[str, str], Any]], weights: dict[str, np.ndarray]):
        import minigraph as mg

        main, startup = mg.Program(), mg.Program()
        with mg.unique_name.guard(), mg.program_guard(main, startup):
            self.net, self.outputs, names, self.extra = build()
        self.main, self.startup = main, startup
        self.scope, self.exe = mg.Scope(), mg.Executor()
        self.exe.run(startup, scope=self.scope)
        for role, name in names.items():
            self.scope.var(name).set(weights[role].copy())

    def run(self, feed: dict[str, np.ndarray], fetch: list[Any]) -> list[np.ndarray]:
        return self.exe.run(self.main, feed=feed, fetch_list=fetch, scope=self.scope)


class Eager:
    """Layers built in one dygraph tracer; `active()` re-enters that tracer for a step."""

    def __init__(self, build: Callable[[], tuple[Any, dict[str, str]]], weights: dict[str, np.ndarray]):
        import minigraph as mg
        from minigraph.dygraph import EagerBuilder

        self.builder = EagerBuilder(0)
        with self.active():
            self.net, names = build()
            params = {p.name: p for p in self.net.parameters()} if names else {}
            for role, name in names.items():
                params[name].set_value(weights[role].copy())
            self.mg = mg

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        from minigraph.ir.framework import use_builder

        with use_builder(self.builder):
            yield


def max_rel_diff(a: Any, b: Any) -> float:
    """max |a - b| relative to max |b|: for scalars (losses) the plain relative difference,
    for arrays a difference relative to the array's scale (tiny elements do not blow it up)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def classifier_train_step(
    impl: str, make_model: Callable[[], Any], x_shape: list[Any], w: Any, x: Any, label: Any, lr: float
) -> Callable[[], float]:
    """One SGD step of softmax cross entropy for `make_model()`'s network, as a closure,
    in minigraph's static ("static") or eager ("eager") mode. Shared by W2 and W3."""
    if impl == "static":
        import minigraph as mg

        def build() -> tuple[Any, Any, dict[str, str], Any]:
            xs = mg.data("x", x_shape)
            ls = mg.data("label", [None, 1], "int64")
            net, names = make_model()
            loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(net(xs), ls))
            mg.optimizer.SGD(lr).minimize(loss)
            return net, loss, names, None

        st = Static(build, w)
        feed = {"x": x, "label": label}
        return lambda: float(st.run(feed, [st.outputs])[0])
    ea = Eager(make_model, w)
    mg = ea.mg
    opt = None

    def step() -> float:
        nonlocal opt
        with ea.active():
            if opt is None:
                opt = mg.optimizer.SGD(lr, parameter_list=ea.net.parameters())
            logits = ea.net(mg.dygraph.to_variable(x))
            loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, mg.dygraph.to_variable(label)))
            loss.backward()
            opt.minimize(loss)
            ea.net.clear_gradients()
            return float(loss.numpy())

    return step
