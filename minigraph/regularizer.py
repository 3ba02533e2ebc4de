"""Weight-decay regularizers. An optimizer (or a parameter's ParamAttr) holds one; the
optimizer asks it for the ops that add the decay term to a parameter's gradient.

    opt = minigraph.optimizer.SGD(0.01, regularization=minigraph.regularizer.L2Decay(1e-4))
"""

from __future__ import annotations

from typing import Any

from minigraph.errors import ArgumentTypeError
from minigraph.ir.builder import builder_for
from minigraph.ir.operator import OpRole
from minigraph.ir.serialize import register_regularizer, regularizer_from_dict
from minigraph.ir.variable import Variable

__all__ = ["L2Decay", "L2DecayRegularizer", "WeightDecayRegularizer", "regularizer_from_dict"]


class WeightDecayRegularizer:
    """Base class: `append_ops(param, grad)` returns the regularized gradient variable."""

    def append_ops(self, param: Variable, grad: Variable) -> Variable:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


class L2Decay(WeightDecayRegularizer):
    """L2 weight decay: the gradient gains `coeff * param` (the gradient of coeff/2 * |param|^2).

    Appended as `scale(param, coeff) -> _generated_var_k` and `sum([grad, that]) -> new grad`,
    both with the Optimize role. Unlike Paddle, the sum writes a fresh variable
    (`<param>@GRAD@REG_k`), so fetching `<param>@GRAD` still gives the raw gradient.
    """

    def __init__(self, coeff: float = 0.0) -> None:
        if isinstance(coeff, bool) or not isinstance(coeff, (int, float)):
            raise ArgumentTypeError(f"L2Decay: coeff must be a number, got {coeff!r}")
        self.coeff = float(coeff)

    def append_ops(self, param: Variable, grad: Variable) -> Variable:
        b = builder_for(grad)
        decay = b.create_var(b.names.generate("_generated_var"), param.shape, param.dtype, stop_gradient=True)
        b.append_op("scale", {"X": param}, {"Out": decay}, {"scale": self.coeff}, role=OpRole.OPTIMIZE)
        out = b.create_var(b.names.generate(f"{param.name}@GRAD@REG"), grad.shape, grad.dtype, stop_gradient=True)
        b.append_op("sum", {"X": [grad, decay]}, {"Out": out}, role=OpRole.OPTIMIZE)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "L2Decay", "coeff": self.coeff}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, L2Decay) and other.coeff == self.coeff

    def __hash__(self) -> int:
        return hash(("L2Decay", self.coeff))

    def __repr__(self) -> str:
        return f"L2Decay(coeff={self.coeff})"


L2DecayRegularizer = L2Decay  # Paddle's long name


register_regularizer("L2Decay", lambda d: L2Decay(d.get("coeff", 0.0)))


def as_regularizer(value: Any, who: str) -> WeightDecayRegularizer | None:
    """A user's `regularization` argument: None, a regularizer, or a float meaning L2Decay(float)."""
    if value is None or isinstance(value, WeightDecayRegularizer):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return L2Decay(float(value))
    raise ArgumentTypeError(
        f"{who}: regularization must be None, a float or a regularizer such as L2Decay, got {value!r}"
    )
