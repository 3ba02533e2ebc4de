"""Adaptive update ops, with Paddle's slots and rules: rmsprop, adagrad, decayed_adagrad,
adamax, ftrl, lamb, adamw (and clip_by_norm, for GradientClipByNorm).

As in minigraph/ops/optim.py, every state output is the same variable as its input
(declared `inplace`), kernels return new arrays, and none of these ops has a gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops.common import require_float
from minigraph.ops.optim import NO_GRAD_UPDATE, _adam, _scalar, _update_infer
from minigraph.registry import OpDef, register


def _consts(a: dict[str, Any], dtype: Any, *names: str) -> list[np.ndarray]:
    """Attrs as 0-D arrays of the parameter's dtype (float32 math stays float32)."""
    return [np.asarray(a[n], dtype) for n in names]


def _register_update(
    op: str,
    inputs: tuple[str, ...],
    state: tuple[str, ...],
    kernel: Callable[..., tuple[np.ndarray, ...]],
    attrs: dict[str, Any],
    outputs: dict[str, str] | None = None,
) -> None:
    """An update op writing ParamOut and `<slot>Out` for each `state` slot in place, or the
    outputs given as {output slot: the input slot it overwrites}, in kernel order."""
    inplace = outputs or {"ParamOut": "Param", **{f"{s}Out": s for s in state}}
    state_infer = _update_infer(*state)

    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        metas = state_infer(ins, attrs)  # keyed "<input slot>Out"
        return {out: metas[f"{slot}Out"] for out, slot in inplace.items()}

    register(
        OpDef(
            op,
            inputs,
            tuple(inplace),
            kernel,
            infer,
            attrs=attrs,
            no_grad=NO_GRAD_UPDATE,
            inplace=inplace,
        )
    )


# --- rmsprop ---------------------------------------------------------------------------------


def _rmsprop(
    a: dict[str, Any], p: np.ndarray, ms: np.ndarray, g: np.ndarray, mom: np.ndarray, lr: np.ndarray, mg: np.ndarray
) -> tuple[np.ndarray, ...]:
    decay, eps, mu = _consts(a, p.dtype, "decay", "epsilon", "momentum")
    ms_out = decay * ms + (1 - decay) * g * g
    if a["centered"]:
        mg_out = decay * mg + (1 - decay) * g
        denom = ms_out - mg_out * mg_out + eps
    else:
        mg_out, denom = mg, ms_out + eps
    mom_out = mu * mom + _scalar(lr, p.dtype) * g / np.sqrt(denom)
    return p - mom_out, mom_out, ms_out, mg_out


_register_update(
    "rmsprop",
    ("Param", "MeanSquare", "Grad", "Moment", "LearningRate", "MeanGrad"),
    ("MeanSquare", "Moment", "MeanGrad"),
    _rmsprop,
    {"epsilon": 1e-10, "decay": 0.9, "momentum": 0.0, "centered": False},
    outputs={"ParamOut": "Param", "MomentOut": "Moment", "MeanSquareOut": "MeanSquare", "MeanGradOut": "MeanGrad"},
)

# --- adagrad / decayed_adagrad ---------------------------------------------------------------


def _adagrad_step(p: np.ndarray, g: np.ndarray, m_out: np.ndarray, lr: np.ndarray, eps: np.ndarray) -> np.ndarray:
    return p - _scalar(lr, p.dtype) * g / (np.sqrt(m_out) + eps)


def _adagrad(a: dict[str, Any], p: np.ndarray, g: np.ndarray, m: np.ndarray, lr: np.ndarray) -> tuple[np.ndarray, ...]:
    (eps,) = _consts(a, p.dtype, "epsilon")
    m_out = m + g * g
    return _adagrad_step(p, g, m_out, lr, eps), m_out


def _decayed_adagrad(
    a: dict[str, Any], p: np.ndarray, g: np.ndarray, m: np.ndarray, lr: np.ndarray
) -> tuple[np.ndarray, ...]:
    decay, eps = _consts(a, p.dtype, "decay", "epsilon")
    m_out = decay * m + (1 - decay) * g * g
    return _adagrad_step(p, g, m_out, lr, eps), m_out


ADAGRAD_SLOTS = ("Param", "Grad", "Moment", "LearningRate")
_register_update("adagrad", ADAGRAD_SLOTS, ("Moment",), _adagrad, {"epsilon": 1e-6})
_register_update("decayed_adagrad", ADAGRAD_SLOTS, ("Moment",), _decayed_adagrad, {"decay": 0.95, "epsilon": 1e-6})

# --- adamax: Beta1Pow is advanced by a separate scale op, as in Paddle ------------------------


def _adamax(
    a: dict[str, Any], p: np.ndarray, g: np.ndarray, lr: np.ndarray, m: np.ndarray, inf: np.ndarray, b1p: np.ndarray
) -> tuple[np.ndarray, ...]:
    b1, b2, eps = _consts(a, p.dtype, "beta1", "beta2", "epsilon")
    m_out = b1 * m + (1 - b1) * g
    inf_out = np.maximum(b2 * inf + eps, np.abs(g))
    lr_t = _scalar(lr, p.dtype) / (1 - _scalar(b1p, p.dtype))
    return p - lr_t * m_out / inf_out, m_out, inf_out


_register_update(
    "adamax",
    ("Param", "Grad", "LearningRate", "Moment", "InfNorm", "Beta1Pow"),
    ("Moment", "InfNorm", "Beta1Pow"),
    _adamax,
    {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    outputs={"ParamOut": "Param", "MomentOut": "Moment", "InfNormOut": "InfNorm"},
)

# --- ftrl ------------------------------------------------------------------------------------


def _ftrl(
    a: dict[str, Any], p: np.ndarray, sq: np.ndarray, lin: np.ndarray, g: np.ndarray, lr: np.ndarray
) -> tuple[np.ndarray, ...]:
    l1, l2 = _consts(a, p.dtype, "l1", "l2")
    lr_, power = _scalar(lr, p.dtype), -np.asarray(a["lr_power"], p.dtype)
    sq_out = sq + g * g
    # sigma = (n_new^-lr_power - n^-lr_power) / lr; with lr_power = -0.5 that is the sqrt.
    sigma = (np.power(sq_out, power) - np.power(sq, power)) / lr_
    lin_out = lin + g - sigma * p
    shrunk = (l1 * np.sign(lin_out) - lin_out) / (np.power(sq_out, power) / lr_ + 2 * l2)
    p_out = np.where(np.abs(lin_out) > l1, shrunk, np.zeros((), p.dtype))
    return p_out, sq_out, lin_out


_register_update(
    "ftrl",
    ("Param", "SquaredAccumulator", "LinearAccumulator", "Grad", "LearningRate"),
    ("SquaredAccumulator", "LinearAccumulator"),
    _ftrl,
    {"l1": 0.0, "l2": 0.0, "lr_power": -0.5},
    outputs={"ParamOut": "Param", "SquaredAccumOut": "SquaredAccumulator", "LinearAccumOut": "LinearAccumulator"},
)

# --- lamb and adamw: adam's moments, different steps ------------------------------------------

ADAM_SLOTS = ("Param", "Grad", "LearningRate", "Moment1", "Moment2", "Beta1Pow", "Beta2Pow")
ADAM_STATE = ("Moment1", "Moment2", "Beta1Pow", "Beta2Pow")


def _lamb(a: dict[str, Any], p: np.ndarray, g: np.ndarray, lr: np.ndarray, *state: np.ndarray) -> tuple[Any, ...]:
    m1, m2, b1pow, b2pow = state
    b1, b2, eps, wd = _consts(a, p.dtype, "beta1", "beta2", "epsilon", "weight_decay")
    m1_out = b1 * m1 + (1 - b1) * g
    m2_out = b2 * m2 + (1 - b2) * g * g
    m_hat = m1_out / (1 - _scalar(b1pow, p.dtype))
    v_hat = m2_out / (1 - _scalar(b2pow, p.dtype))
    r = m_hat / (np.sqrt(v_hat) + eps) + wd * p
    # The layer-wise trust ratio ||p|| / ||r||, 1 when either norm is 0.
    p_norm, r_norm = np.sqrt(np.sum(p * p)), np.sqrt(np.sum(r * r))
    trust = p_norm / r_norm if p_norm > 0 and r_norm > 0 else np.asarray(1.0, p.dtype)
    return p - _scalar(lr, p.dtype) * trust * r, m1_out, m2_out, b1pow * b1, b2pow * b2


_register_update(
    "lamb", ADAM_SLOTS, ADAM_STATE, _lamb, {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-6, "weight_decay": 0.01}
)


def _adamw(a: dict[str, Any], p: np.ndarray, g: np.ndarray, lr: np.ndarray, *state: np.ndarray) -> tuple[Any, ...]:
    # Decoupled weight decay: shrink the parameter by lr * coeff first, then Adam's step.
    if a["with_decay"]:
        p = p * (1 - _scalar(lr, p.dtype) * np.asarray(a["lr_ratio"] * a["coeff"], p.dtype))
    return _adam(a, p, g, lr, *state)


_register_update(
    "adamw",
    ADAM_SLOTS,
    ADAM_STATE,
    _adamw,
    {
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "lazy_mode": False,
        "coeff": 0.01,
        "with_decay": True,
        "lr_ratio": 1.0,
    },
)

# --- clip_by_norm ------------------------------------------------------------------------------


def _clip_by_norm(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
    norm = float(np.sqrt(np.sum(np.asarray(x, np.float64) ** 2)))
    max_norm = a["max_norm"]
    return ((x * np.asarray(max_norm / norm, x.dtype)) if norm > max_norm else x.copy(),)


def _clip_by_norm_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["X"]
    if attrs["max_norm"] <= 0:
        raise GraphBuildError(f"max_norm must be positive, got {attrs['max_norm']}")
    require_float(x, "clip_by_norm: X")
    return {"Out": (x.shape, x.dtype)}


NO_GRAD_CLIP = "gradient clipping runs after the backward pass"
register(
    OpDef("clip_by_norm", ("X",), ("Out",), _clip_by_norm, _clip_by_norm_infer, {"max_norm": 1.0}, no_grad=NO_GRAD_CLIP)
)
