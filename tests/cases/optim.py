"""Cases for minigraph/ops/optim.py (forward only: update ops have no gradient) and the
initializer ops of minigraph/ops/init.py (covered by tests/test_initializers.py)."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(7)
p23 = rng.normal(size=(2, 3))
g23 = rng.normal(size=(2, 3))
v23 = rng.normal(size=(2, 3))
m1 = rng.normal(size=(2, 3))
m2 = rng.uniform(0.1, 1.0, size=(2, 3))
lr = np.array(0.1)
lr1 = np.array([0.05])
# large enough (64 KiB and more in float32) for the numba backend's one-pass sgd loop
p_big = rng.normal(size=(128, 160))
g_big = rng.normal(size=(128, 160))


def _sgd(i, a):
    return {"ParamOut": i["Param"] - i["LearningRate"].reshape(()) * i["Grad"]}


def _momentum(i, a):
    p, g, v, lr_ = i["Param"], i["Grad"], i["Velocity"], i["LearningRate"].reshape(())
    if a.get("regularization_method", "") == "l2_decay":
        g = g + a["regularization_coeff"] * p
    mu = a.get("mu", 0.9)
    v_out = mu * v + g
    step = (g + mu * v_out) if a.get("use_nesterov", False) else v_out
    return {"ParamOut": p - lr_ * step, "VelocityOut": v_out}


def _adam(i, a):
    b1, b2, eps = a.get("beta1", 0.9), a.get("beta2", 0.999), a.get("epsilon", 1e-8)
    g = i["Grad"]
    b1p, b2p = i["Beta1Pow"].reshape(()), i["Beta2Pow"].reshape(())
    m = b1 * i["Moment1"] + (1 - b1) * g
    v = b2 * i["Moment2"] + (1 - b2) * g * g
    lr_t = i["LearningRate"].reshape(()) * np.sqrt(1 - b2p) / (1 - b1p)
    p = i["Param"] - lr_t * m / (np.sqrt(v) + eps * np.sqrt(1 - b2p))
    return {
        "ParamOut": p,
        "Moment1Out": m,
        "Moment2Out": v,
        "Beta1PowOut": i["Beta1Pow"] * b1,
        "Beta2PowOut": i["Beta2Pow"] * b2,
    }


def _global_norm_scale(i, a):
    norm = np.sqrt(sum(np.sum(x * x) for x in i["X"]))
    return {"Out": np.asarray(a["clip_norm"] / max(norm, a["clip_norm"]))}


CASES = [
    OpCase("sgd", {"Param": p23, "Grad": g23, "LearningRate": lr}, ref=_sgd),
    OpCase("sgd", {"Param": p23[0], "Grad": g23[0], "LearningRate": lr1}, ref=_sgd, name="lr_shape_1"),
    OpCase("sgd", {"Param": np.array(1.5), "Grad": np.array(-2.0), "LearningRate": lr1}, ref=_sgd, name="scalar"),
    OpCase("sgd", {"Param": p_big, "Grad": g_big, "LearningRate": lr}, ref=_sgd, name="large"),
    OpCase("momentum", {"Param": p23, "Grad": g23, "Velocity": v23, "LearningRate": lr}, {"mu": 0.8}, ref=_momentum),
    OpCase(
        "momentum",
        {"Param": p23, "Grad": g23, "Velocity": v23, "LearningRate": lr},
        {"mu": 0.9, "use_nesterov": True},
        ref=_momentum,
        name="nesterov",
    ),
    OpCase(
        "momentum",
        {"Param": p23, "Grad": g23, "Velocity": v23, "LearningRate": lr},
        {"mu": 0.9, "regularization_method": "l2_decay", "regularization_coeff": 0.1},
        ref=_momentum,
        name="l2_decay",
    ),
    OpCase(
        "adam",
        {
            "Param": p23,
            "Grad": g23,
            "LearningRate": lr,
            "Moment1": m1,
            "Moment2": m2,
            "Beta1Pow": np.array([0.9**3]),
            "Beta2Pow": np.array([0.999**3]),
        },
        ref=_adam,
    ),
    OpCase(
        "adam",
        {
            "Param": p23,
            "Grad": g23,
            "LearningRate": lr,
            "Moment1": np.zeros((2, 3)),
            "Moment2": np.zeros((2, 3)),
            "Beta1Pow": np.array([0.5]),
            "Beta2Pow": np.array([0.8]),
        },
        {"beta1": 0.5, "beta2": 0.8, "epsilon": 1e-3},
        ref=_adam,
        name="first_step_custom_betas",
    ),
    OpCase("global_norm_scale", {"X": [p23, g23[0]]}, {"clip_norm": 1.0}, ref=_global_norm_scale, name="clips"),
    OpCase("global_norm_scale", {"X": [p23, g23[0]]}, {"clip_norm": 100.0}, ref=_global_norm_scale, name="no_clip"),
]

COVERED_ELSEWHERE = {
    "uniform_random": "tests/test_initializers.py (bounds, statistics, seeds, Xavier/MSRA limits)",
    "gaussian_random": "tests/test_initializers.py (mean/std statistics, seeds)",
    "truncated_gaussian_random": "tests/test_initializers.py (two-std truncation, statistics)",
}
