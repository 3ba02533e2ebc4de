"""Optimizer update ops (sgd, momentum, adam) and the global-norm clipping factor.

The update rules are Paddle's, slot for slot. Every `*Out` state output is the same
variable as its input (declared `inplace`), so the executor writes the new value back to
the parameter or accumulator in the scope. Kernels still return new arrays: a run that fails
part-way must leave the scope untouched.

None of these ops has a gradient: they run after the backward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops import optim_loops
from minigraph.ops.backend import compiled, jit
from minigraph.ops.buffers import MIN_BYTES, empty
from minigraph.ops.common import require_float
from minigraph.registry import OpDef, register
from minigraph.types import shape_text

NO_GRAD_UPDATE = "optimizer update"

# --- shared checks ----------------------------------------------------------------------


def _check_like_param(ins: dict[str, Any], slot: str) -> None:
    p, v = ins["Param"], ins[slot]
    require_float(v, slot)
    if v.dtype != p.dtype:
        raise GraphBuildError(f"{slot} {v.name!r} is {v.dtype} but Param {p.name!r} is {p.dtype}")
    if -1 not in v.shape and -1 not in p.shape and tuple(v.shape) != tuple(p.shape):
        raise GraphBuildError(
            f"{slot} {v.name!r} has shape {shape_text(v.shape)} but Param {p.name!r} has {shape_text(p.shape)}"
        )


def _check_scalar(ins: dict[str, Any], slot: str) -> None:
    """Learning rates and beta powers hold one value: shape [] or [1]."""
    v = ins[slot]
    require_float(v, slot)
    if tuple(v.shape) not in ((), (1,)):
        raise GraphBuildError(f"{slot} {v.name!r} must hold one value (shape [] or [1]), got {shape_text(v.shape)}")


def _scalar(a: np.ndarray, dtype: Any) -> np.ndarray:
    """A one-value array as a 0-D array of the parameter's dtype (keeps float32 math float32,
    and keeps a [1]-shaped learning rate from broadcasting a 0-D parameter up to [1])."""
    return np.asarray(a, dtype=dtype).reshape(())


def _update_infer(*state: str) -> Any:
    """Infer rule: Param and every state slot come out with their own shape and dtype."""

    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        p = ins["Param"]
        require_float(p, "Param")
        _check_like_param(ins, "Grad")
        _check_scalar(ins, "LearningRate")
        out = {"ParamOut": (p.shape, p.dtype)}
        for slot in state:
            v = ins[slot]
            if slot.endswith("Pow"):
                _check_scalar(ins, slot)
            else:
                _check_like_param(ins, slot)
            out[f"{slot}Out"] = (v.shape, v.dtype)
        return out

    return infer


# --- sgd --------------------------------------------------------------------------------


def _sgd(a: dict[str, Any], p: np.ndarray, g: np.ndarray, lr: np.ndarray) -> tuple[np.ndarray]:
    # p + (-lr)*g is p - lr*g bit for bit (negation is exact), in one recycled buffer.
    neg_lr = -_scalar(lr, p.dtype)
    if p.nbytes < MIN_BYTES and g.dtype == p.dtype and p.ndim:
        # a bias or a scale vector: the pool keeps nothing this small, so skip asking it
        # (0-D values take the pool path: ufuncs make numpy scalars of them)
        out = np.multiply(g, neg_lr)
        return (np.add(p, out, out=out),)
    out = empty(p.shape, p.dtype)
    same = g.dtype == p.dtype and g.shape == p.shape and p.flags.c_contiguous and g.flags.c_contiguous
    if compiled() and same and p.dtype.char in "fd":
        # one pass instead of two, the same operations (minigraph/ops/optim_loops.py); on
        # small vectors (above) numba's call costs more than the pass saves
        jit(optim_loops._sgd_loop)(p.reshape(-1), g.reshape(-1), neg_lr[()], out.reshape(-1))
        return (out,)
    np.multiply(g, neg_lr, out=out)
    return (np.add(p, out, out=out),)


register(
    OpDef(
        "sgd",
        ("Param", "Grad", "LearningRate"),
        ("ParamOut",),
        _sgd,
        _update_infer(),
        no_grad=NO_GRAD_UPDATE,
        inplace={"ParamOut": "Param"},
    )
)

# --- momentum ---------------------------------------------------------------------------


def _momentum(
    a: dict[str, Any], p: np.ndarray, g: np.ndarray, v: np.ndarray, lr: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    dtype = p.dtype
    if a["regularization_method"] == "l2_decay":
        # L2 folded into the update: the gradient of coeff/2 * |p|^2 is coeff * p.
        g = g + np.asarray(a["regularization_coeff"], dtype) * p
    mu, lr = np.asarray(a["mu"], dtype), _scalar(lr, dtype)
    v_out = mu * v + g
    if a["use_nesterov"]:
        p_out = p - (g + mu * v_out) * lr
    else:
        p_out = p - lr * v_out
    return p_out, v_out


def _momentum_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    if attrs["regularization_method"] not in ("", "l2_decay"):
        raise GraphBuildError(f"regularization_method must be '' or 'l2_decay', got {attrs['regularization_method']!r}")
    return _update_infer("Velocity")(ins, attrs)


register(
    OpDef(
        "momentum",
        ("Param", "Grad", "Velocity", "LearningRate"),
        ("ParamOut", "VelocityOut"),
        _momentum,
        _momentum_infer,
        attrs={"mu": 0.9, "use_nesterov": False, "regularization_method": "", "regularization_coeff": 0.0},
        no_grad=NO_GRAD_UPDATE,
        inplace={"ParamOut": "Param", "VelocityOut": "Velocity"},
    )
)

# --- adam -------------------------------------------------------------------------------


def _adam(
    a: dict[str, Any],
    p: np.ndarray,
    g: np.ndarray,
    lr: np.ndarray,
    m1: np.ndarray,
    m2: np.ndarray,
    b1pow: np.ndarray,
    b2pow: np.ndarray,
) -> tuple[np.ndarray, ...]:
    dtype = p.dtype
    b1, b2, eps = (np.asarray(a[k], dtype) for k in ("beta1", "beta2", "epsilon"))
    b1p, b2p = _scalar(b1pow, dtype), _scalar(b2pow, dtype)
    one = np.asarray(1.0, dtype)
    m1_out = b1 * m1 + (one - b1) * g
    m2_out = b2 * m2 + (one - b2) * g * g
    # Paddle's form: bias correction moved into the step size, and epsilon scaled by
    # sqrt(1 - beta2^t) so that it matches eps added to the bias-corrected sqrt(v).
    corr2 = np.sqrt(one - b2p)
    lr_t = _scalar(lr, dtype) * corr2 / (one - b1p)
    p_out = p - lr_t * (m1_out / (np.sqrt(m2_out) + eps * corr2))
    return p_out, m1_out, m2_out, b1pow * b1, b2pow * b2


register(
    OpDef(
        "adam",
        ("Param", "Grad", "LearningRate", "Moment1", "Moment2", "Beta1Pow", "Beta2Pow"),
        ("ParamOut", "Moment1Out", "Moment2Out", "Beta1PowOut", "Beta2PowOut"),
        _adam,
        _update_infer("Moment1", "Moment2", "Beta1Pow", "Beta2Pow"),
        # NOTE: lazy_mode only changes anything for sparse (selected-rows) gradients, which
        # minigraph does not have; it is kept so programs read and round-trip like Paddle's.
        attrs={"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "lazy_mode": False},
        no_grad=NO_GRAD_UPDATE,
        inplace={
            "ParamOut": "Param",
            "Moment1Out": "Moment1",
            "Moment2Out": "Moment2",
            "Beta1PowOut": "Beta1Pow",
            "Beta2PowOut": "Beta2Pow",
        },
    )
)

# --- global-norm clipping ---------------------------------------------------------------


def _global_norm_scale(a: dict[str, Any], xs: list[np.ndarray]) -> tuple[np.ndarray]:
    # Accumulate in float64 whatever the gradients' dtype: the norm of many float32 values
    # loses digits otherwise, and the result is one number.
    flat = [np.asarray(x, dtype=np.float64).ravel() for x in xs]
    total = sum(float(np.dot(f, f)) for f in flat)
    clip = a["clip_norm"]
    scale = clip / max(np.sqrt(total), clip)
    return (np.asarray(scale, dtype=xs[0].dtype),)


def _global_norm_scale_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    xs = ins["X"]
    if not xs:
        raise GraphBuildError("needs at least one gradient")
    for v in xs:
        require_float(v, "X")
    if not attrs["clip_norm"] > 0.0:
        raise GraphBuildError(f"clip_norm must be positive, got {attrs['clip_norm']}")
    return {"Out": ((), xs[0].dtype)}


register(
    OpDef(
        "global_norm_scale",
        ("X*",),
        ("Out",),
        _global_norm_scale,
        _global_norm_scale_infer,
        attrs={"clip_norm": 1.0},
        # Out = clip_norm / max(||X||, clip_norm), ||X|| the norm of all X together: the
        # factor GradientClipByGlobalNorm multiplies every gradient by.
        no_grad="gradient clipping runs after the backward pass",
    )
)
