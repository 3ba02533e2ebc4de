"""Cases for minigraph/ops/normalize.py: Y with gradients for X, Scale and Bias; the saved
statistics checked by value (they are intermediate outputs, as in Paddle)."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(15)
x2345 = rng.normal(size=(2, 3, 4, 5)) * 2 + 1
x46 = rng.normal(size=(4, 6))
EPS = 1e-5


def _norm(x2, eps=EPS):
    mean = x2.mean(1, keepdims=True)
    var = x2.var(1, keepdims=True)
    return (x2 - mean) / np.sqrt(var + eps), mean[:, 0], var[:, 0]


def _layer_norm(i, a):
    x, b = i["X"], a.get("begin_norm_axis", 1)
    rows = int(np.prod(x.shape[:b]))
    xhat, mean, var = _norm(x.reshape(rows, -1))
    y = xhat * i.get("Scale", np.ones(xhat.shape[1])) + i.get("Bias", np.zeros(xhat.shape[1]))
    return {"Y": y.reshape(x.shape), "Mean": mean, "Variance": var}


def _channelwise(i, rows, stat_shape):
    x = i["X"]
    xhat, mean, var = _norm(x.reshape(rows, -1))
    c = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    y = xhat.reshape(x.shape) * i["Scale"].reshape(c) + i["Bias"].reshape(c)
    return y, mean.reshape(stat_shape), var.reshape(stat_shape)


def _instance_norm(i, a):
    n, c = i["X"].shape[:2]
    y, mean, var = _channelwise(i, n * c, (n * c,))
    return {"Y": y, "SavedMean": mean, "SavedVariance": 1 / np.sqrt(var + EPS)}


def _group_norm(i, a):
    n, g = i["X"].shape[0], a["groups"]
    y, mean, var = _channelwise(i, n * g, (n, g))
    return {"Y": y, "Mean": mean, "Variance": var}


affine3 = {"Scale": rng.uniform(0.5, 1.5, size=3), "Bias": rng.normal(size=3)}
Y = ("Y",)

CASES = [
    OpCase(
        "layer_norm",
        {"X": x2345, "Scale": rng.uniform(0.5, 1.5, size=60), "Bias": rng.normal(size=60)},
        ref=_layer_norm,
        outputs=Y,
    ),
    OpCase(
        "layer_norm",
        {"X": x2345, "Scale": rng.uniform(0.5, 1.5, size=20), "Bias": rng.normal(size=20)},
        {"begin_norm_axis": 2},
        ref=_layer_norm,
        outputs=Y,
        name="begin_axis2",
    ),
    OpCase("layer_norm", {"X": x46}, ref=_layer_norm, outputs=Y, name="no_affine"),
    OpCase("layer_norm", {"X": x46}, ref=_layer_norm, grad=(), name="statistics"),
    OpCase("instance_norm", {"X": x2345, **affine3}, ref=_instance_norm, outputs=Y),
    OpCase("instance_norm", {"X": x2345, **affine3}, ref=_instance_norm, grad=(), name="statistics"),
    OpCase(
        "group_norm",
        {"X": rng.normal(size=(2, 4, 3, 3)), "Scale": rng.uniform(0.5, 1.5, 4), "Bias": rng.normal(size=4)},
        {"groups": 2},
        ref=_group_norm,
        outputs=Y,
    ),
    OpCase("group_norm", {"X": x2345, **affine3}, {"groups": 3}, ref=_group_norm, grad=(), name="statistics"),
]
