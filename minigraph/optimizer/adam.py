"""Adam, with Paddle's update rule (bias correction folded into the step size)."""

from __future__ import annotations

from typing import Any

from minigraph.errors import InvalidArgumentError
from minigraph.ir.builder import Builder
from minigraph.ir.variable import Parameter, Variable
from minigraph.optimizer.base import Optimizer, UpdateOp, _check_number


class Adam(Optimizer):
    """`adam(Param, Grad, LearningRate, Moment1, Moment2, Beta1Pow, Beta2Pow)` per parameter:

        m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
        p -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + epsilon*sqrt(1-b2^t))

    Accumulators: `<param>_moment1_k`, `<param>_moment2_k` (zeros, shaped like the parameter)
    and `<param>_beta1_pow_acc_k`, `<param>_beta2_pow_acc_k` (shape [1], starting at beta1
    and beta2, multiplied by them after each step).

        minigraph.optimizer.Adam(learning_rate=0.001).minimize(loss)
    """

    def __init__(
        self,
        learning_rate: float | Variable = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-08,
        parameter_list: Any = None,
        regularization: Any = None,
        grad_clip: Any = None,
        name: str | None = None,
        lazy_mode: bool = False,
        **obsolete: Any,
    ) -> None:
        super().__init__(learning_rate, parameter_list, regularization, grad_clip, name, **obsolete)
        self._beta1 = _check_number(beta1, "Adam: beta1")
        self._beta2 = _check_number(beta2, "Adam: beta2")
        self._epsilon = _check_number(epsilon, "Adam: epsilon")
        for what, b in (("beta1", self._beta1), ("beta2", self._beta2)):
            if not 0.0 <= b < 1.0:
                raise InvalidArgumentError(f"Adam: {what} must be in [0, 1), got {b}")
        self._lazy_mode = bool(lazy_mode)

    def _create_accumulators(self, builder: Builder, params: list[Parameter]) -> None:
        for p in params:
            self._add_accumulator(builder, "moment1", p)
            self._add_accumulator(builder, "moment2", p)
            self._add_accumulator(builder, "beta1_pow_acc", p, self._beta1, shape=(1,))
            self._add_accumulator(builder, "beta2_pow_acc", p, self._beta2, shape=(1,))

    def _update_op(self, param: Parameter, grad: Variable, lr: Variable) -> UpdateOp:
        m1, m2, b1p, b2p = (
            self._get_accumulator(k, param) for k in ("moment1", "moment2", "beta1_pow_acc", "beta2_pow_acc")
        )
        return UpdateOp(
            "adam",
            {
                "Param": param,
                "Grad": grad,
                "LearningRate": lr,
                "Moment1": m1,
                "Moment2": m2,
                "Beta1Pow": b1p,
                "Beta2Pow": b2p,
            },
            {"ParamOut": param, "Moment1Out": m1, "Moment2Out": m2, "Beta1PowOut": b1p, "Beta2PowOut": b2p},
            {"beta1": self._beta1, "beta2": self._beta2, "epsilon": self._epsilon, "lazy_mode": self._lazy_mode},
        )


AdamOptimizer = Adam  # Paddle's fluid name
