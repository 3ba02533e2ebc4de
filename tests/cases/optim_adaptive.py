"""Cases for minigraph/ops/optim_adaptive.py: each update rule written out in numpy (forward
only: update ops have no gradient)."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(18)
P, G = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
S1, S2 = rng.uniform(0.1, 1.0, size=(2, 3)), rng.uniform(0.1, 1.0, size=(2, 3))
LR = np.array(0.1)


def _lr(i):
    return i["LearningRate"].reshape(())


def _rmsprop(i, a):
    rho, eps, mu = a.get("decay", 0.9), a.get("epsilon", 1e-10), a.get("momentum", 0.0)
    g = i["Grad"]
    ms = rho * i["MeanSquare"] + (1 - rho) * g**2
    mg = rho * i["MeanGrad"] + (1 - rho) * g if a.get("centered") else i["MeanGrad"]
    denom = ms - mg**2 + eps if a.get("centered") else ms + eps
    mom = mu * i["Moment"] + _lr(i) * g / np.sqrt(denom)
    return {"ParamOut": i["Param"] - mom, "MomentOut": mom, "MeanSquareOut": ms, "MeanGradOut": mg}


def _adagrad(i, a):
    m = i["Moment"] + i["Grad"] ** 2
    return {"ParamOut": i["Param"] - _lr(i) * i["Grad"] / (np.sqrt(m) + a.get("epsilon", 1e-6)), "MomentOut": m}


def _decayed_adagrad(i, a):
    d = a.get("decay", 0.95)
    m = d * i["Moment"] + (1 - d) * i["Grad"] ** 2
    return {"ParamOut": i["Param"] - _lr(i) * i["Grad"] / (np.sqrt(m) + a.get("epsilon", 1e-6)), "MomentOut": m}


def _adamax(i, a):
    b1, b2, eps = a.get("beta1", 0.9), a.get("beta2", 0.999), a.get("epsilon", 1e-8)
    m = b1 * i["Moment"] + (1 - b1) * i["Grad"]
    inf = np.maximum(b2 * i["InfNorm"] + eps, np.abs(i["Grad"]))
    p = i["Param"] - _lr(i) / (1 - i["Beta1Pow"].reshape(())) * m / inf
    return {"ParamOut": p, "MomentOut": m, "InfNormOut": inf}


def _ftrl(i, a):
    l1, l2, power = a.get("l1", 0.0), a.get("l2", 0.0), a.get("lr_power", -0.5)
    sq, lin, g, p = i["SquaredAccumulator"], i["LinearAccumulator"], i["Grad"], i["Param"]
    new = sq + g * g
    lin = lin + g - (new**-power - sq**-power) / _lr(i) * p
    y = new**-power / _lr(i) + 2 * l2
    p_out = np.where(np.abs(lin) > l1, (l1 * np.sign(lin) - lin) / y, 0.0)
    return {"ParamOut": p_out, "SquaredAccumOut": new, "LinearAccumOut": lin}


def _adam_moments(i, a):
    b1, b2 = a.get("beta1", 0.9), a.get("beta2", 0.999)
    m = b1 * i["Moment1"] + (1 - b1) * i["Grad"]
    v = b2 * i["Moment2"] + (1 - b2) * i["Grad"] ** 2
    return b1, b2, m, v


def _lamb(i, a):
    b1, b2, m, v = _adam_moments(i, a)
    b1p, b2p = i["Beta1Pow"].reshape(()), i["Beta2Pow"].reshape(())
    r = (m / (1 - b1p)) / (np.sqrt(v / (1 - b2p)) + a.get("epsilon", 1e-6)) + a.get("weight_decay", 0.01) * i["Param"]
    trust = np.linalg.norm(i["Param"]) / np.linalg.norm(r)
    out = {"ParamOut": i["Param"] - _lr(i) * trust * r, "Moment1Out": m, "Moment2Out": v}
    return {**out, "Beta1PowOut": i["Beta1Pow"] * b1, "Beta2PowOut": i["Beta2Pow"] * b2}


def _adamw(i, a):
    b1, b2, m, v = _adam_moments(i, a)
    b1p, b2p = i["Beta1Pow"].reshape(()), i["Beta2Pow"].reshape(())
    p = i["Param"] * (1 - _lr(i) * a.get("coeff", 0.01))
    lr_t = _lr(i) * np.sqrt(1 - b2p) / (1 - b1p)
    p = p - lr_t * m / (np.sqrt(v) + a.get("epsilon", 1e-8) * np.sqrt(1 - b2p))
    return {
        "ParamOut": p,
        "Moment1Out": m,
        "Moment2Out": v,
        "Beta1PowOut": i["Beta1Pow"] * b1,
        "Beta2PowOut": i["Beta2Pow"] * b2,
    }


def _clip_by_norm(i, a):
    norm = np.linalg.norm(i["X"])
    return {"Out": i["X"] * a["max_norm"] / norm if norm > a["max_norm"] else i["X"]}


RMS = {"Param": P, "MeanSquare": S1, "Grad": G, "Moment": S2 - 0.5, "LearningRate": LR, "MeanGrad": G * 0.1}
ADAM = {"Param": P, "Grad": G, "LearningRate": LR, "Moment1": S1 - 0.5, "Moment2": S2}
POWS = {"Beta1Pow": np.array([0.81]), "Beta2Pow": np.array([0.998])}

CASES = [
    OpCase("rmsprop", RMS, ref=_rmsprop),
    OpCase("rmsprop", RMS, {"centered": True, "momentum": 0.9, "decay": 0.95}, ref=_rmsprop, name="centered_momentum"),
    OpCase("adagrad", {"Param": P, "Grad": G, "Moment": S1, "LearningRate": LR}, ref=_adagrad),
    OpCase(
        "decayed_adagrad",
        {"Param": P, "Grad": G, "Moment": S1, "LearningRate": LR},
        {"decay": 0.9},
        ref=_decayed_adagrad,
    ),
    OpCase(
        "adamax",
        {"Param": P, "Grad": G, "LearningRate": LR, "Moment": S1 - 0.5, "InfNorm": S2, "Beta1Pow": np.array([0.9])},
        ref=_adamax,
    ),
    OpCase(
        "ftrl",
        {"Param": P, "SquaredAccumulator": S1, "LinearAccumulator": S2 - 0.5, "Grad": G, "LearningRate": LR},
        {"l1": 0.05, "l2": 0.1},
        ref=_ftrl,
    ),
    OpCase(
        "ftrl",
        {"Param": P, "SquaredAccumulator": S1, "LinearAccumulator": S2 - 0.5, "Grad": G, "LearningRate": LR},
        {"lr_power": -0.7},
        ref=_ftrl,
        name="lr_power",
    ),
    OpCase("lamb", {**ADAM, **POWS}, {"weight_decay": 0.1}, ref=_lamb),
    OpCase("adamw", {**ADAM, **POWS}, {"coeff": 0.05}, ref=_adamw),
    OpCase("clip_by_norm", {"X": G}, {"max_norm": 1.0}, ref=_clip_by_norm),
    OpCase("clip_by_norm", {"X": G}, {"max_norm": 100.0}, ref=_clip_by_norm, name="below_max"),
]
