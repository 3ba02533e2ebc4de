"""W3: one CNN training step, batch 32, 3x32x32: [conv3x3(16) + BN + relu + maxpool2],
[conv3x3(32) + BN + relu + maxpool2], fc 10, softmax cross-entropy, SGD. The convolutions
have no bias (batch_norm follows each)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import expert
import numpy as np
import reference as ref
from common import Unavailable, bn_names, bn_weights, classifier_train_step, copy_weights, normal, rng

NAME = "W3"
TITLE = "CNN train step, batch 32, 3x32x32, 2x[conv3x3+BN+relu+pool], fc 10, SGD"
IMPLS = ("numpy", "expert", "static", "eager", "torch", "paddle")
LR = 0.05


def sizes(quick: bool, batch: int | None = None) -> dict[str, int]:
    s = {"batch": 4, "c": 3, "hw": 8, "c1": 4, "c2": 8, "out": 10} if quick else {}
    s = s or {"batch": 32, "c": 3, "hw": 32, "c1": 16, "c2": 32, "out": 10}
    if batch is not None:
        s["batch"] = batch
    return s


def weights(s: dict[str, int]) -> dict[str, np.ndarray]:
    g = rng(3)
    flat = s["c2"] * (s["hw"] // 4) ** 2
    return {
        "c1": normal(g, (s["c1"], s["c"], 3, 3), (2 / (9 * s["c"])) ** 0.5),
        "c2": normal(g, (s["c2"], s["c1"], 3, 3), (2 / (9 * s["c1"])) ** 0.5),
        "fw": normal(g, (flat, s["out"]), (1 / flat) ** 0.5),
        "fb": normal(g, (s["out"],), 0.1),
        **bn_weights(g, "1", s["c1"]),
        **bn_weights(g, "2", s["c2"]),
    }


def batch(s: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    g = rng(4)
    x = g.standard_normal((s["batch"], s["c"], s["hw"], s["hw"])).astype(np.float32)
    return x, g.integers(0, s["out"], (s["batch"], 1)).astype(np.int64)


def model(s: dict[str, int]) -> tuple[Any, dict[str, str]]:
    import minigraph as mg

    class CNN(mg.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = mg.nn.Conv2D(s["c"], s["c1"], 3, padding=1, bias_attr=False)
            self.bn1 = mg.nn.BatchNorm(s["c1"], act="relu")
            self.conv2 = mg.nn.Conv2D(s["c1"], s["c2"], 3, padding=1, bias_attr=False)
            self.bn2 = mg.nn.BatchNorm(s["c2"], act="relu")
            self.pool = mg.nn.Pool2D(2, "max", 2)
            self.fc = mg.nn.Linear(s["c2"] * (s["hw"] // 4) ** 2, s["out"])

        def forward(self, x: Any) -> Any:
            h = self.pool(self.bn1(self.conv1(x)))
            h = self.pool(self.bn2(self.conv2(h)))
            return self.fc(mg.layers.flatten(h, 1))

    net = CNN()
    names = {"c1": net.conv1.weight.name, "c2": net.conv2.weight.name}
    names.update({"fw": net.fc.weight.name, "fb": net.fc.bias.name})
    names.update(bn_names(net.bn1, "1"))
    names.update(bn_names(net.bn2, "2"))
    return net, names


def setup(impl: str, quick: bool, full: bool = False) -> Callable[[], Any]:
    s = sizes(quick)
    w = weights(s)
    x, label = batch(s)
    if impl == "numpy":
        wn = copy_weights(w)
        return lambda: ref.cnn_step(wn, x, label, LR)
    if impl == "expert":
        return expert.cnn_setup(w, x, label, LR)
    if impl in ("static", "eager"):
        return classifier_train_step(impl, lambda: model(s), [None, s["c"], s["hw"], s["hw"]], w, x, label, LR)
    if impl == "torch":
        import peers_torch

        return peers_torch.cnn_step(w, x, label, LR)
    if impl == "paddle":
        import peers_paddle

        return peers_paddle.cnn_step(w, x, label, LR)
    raise Unavailable(impl)
