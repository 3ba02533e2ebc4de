"""W2: one MLP training step, batch 256, 784-512-512-10, batch_norm + relu after each hidden
fc, softmax cross-entropy, SGD."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import expert
import numpy as np
import reference as ref
from common import Unavailable, bn_names, bn_weights, classifier_train_step, copy_weights, normal, rng

NAME = "W2"
TITLE = "MLP train step, batch 256, 784-512-512-10, BN, softmax CE, SGD"
IMPLS = ("numpy", "expert", "static", "eager", "torch", "paddle")
LR = 0.05


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"batch": 16, "inp": 32, "hid": 24, "out": 10}
    return {"batch": 256, "inp": 784, "hid": 512, "out": 10}


def data(quick: bool) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    s = sizes(quick)
    g = rng(2)
    w = {
        "w1": normal(g, (s["inp"], s["hid"]), (1 / s["inp"]) ** 0.5),
        "b1": normal(g, (s["hid"],), 0.1),
        "w2": normal(g, (s["hid"], s["hid"]), (1 / s["hid"]) ** 0.5),
        "b2": normal(g, (s["hid"],), 0.1),
        "w3": normal(g, (s["hid"], s["out"]), (1 / s["hid"]) ** 0.5),
        "b3": normal(g, (s["out"],), 0.1),
        **bn_weights(g, "1", s["hid"]),
        **bn_weights(g, "2", s["hid"]),
    }
    x = g.standard_normal((s["batch"], s["inp"])).astype(np.float32)
    label = g.integers(0, s["out"], (s["batch"], 1)).astype(np.int64)
    return w, x, label


def _model(s: dict[str, int]) -> tuple[Any, dict[str, str]]:
    import minigraph as mg

    class MLP(mg.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = mg.nn.Linear(s["inp"], s["hid"])
            self.bn1 = mg.nn.BatchNorm(s["hid"], act="relu")
            self.fc2 = mg.nn.Linear(s["hid"], s["hid"])
            self.bn2 = mg.nn.BatchNorm(s["hid"], act="relu")
            self.fc3 = mg.nn.Linear(s["hid"], s["out"])

        def forward(self, x: Any) -> Any:
            return self.fc3(self.bn2(self.fc2(self.bn1(self.fc1(x)))))

    net = MLP()
    names = {"w1": net.fc1.weight.name, "b1": net.fc1.bias.name, "w2": net.fc2.weight.name}
    names.update({"b2": net.fc2.bias.name, "w3": net.fc3.weight.name, "b3": net.fc3.bias.name})
    names.update(bn_names(net.bn1, "1"))
    names.update(bn_names(net.bn2, "2"))
    return net, names


def setup(impl: str, quick: bool, full: bool = False) -> Callable[[], Any]:
    s = sizes(quick)
    w, x, label = data(quick)
    if impl == "numpy":
        wn = copy_weights(w)
        return lambda: ref.mlp_step(wn, x, label, LR)
    if impl == "expert":
        return expert.mlp_setup(w, x, label, LR)
    if impl in ("static", "eager"):
        return classifier_train_step(impl, lambda: _model(s), [None, s["inp"]], w, x, label, LR)
    if impl == "torch":
        import peers_torch

        return peers_torch.mlp_step(w, x, label, LR)
    if impl == "paddle":
        import peers_paddle

        return peers_paddle.mlp_step(w, x, label, LR)
    raise Unavailable(impl)
