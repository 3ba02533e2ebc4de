"""Plain stochastic gradient descent: p -= lr * g."""

from __future__ import annotations

from typing import Any

from minigraph.ir.variable import Parameter, Variable
from minigraph.optimizer.base import Optimizer, UpdateOp


class SGD(Optimizer):
    """`sgd(Param, Grad, LearningRate) -> ParamOut` per parameter; no accumulators.

    minigraph.optimizer.SGD(learning_rate=0.01, regularization=L2Decay(1e-4)).minimize(loss)
    """

    def __init__(
        self,
        learning_rate: float | Variable,
        parameter_list: Any = None,
        regularization: Any = None,
        grad_clip: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, parameter_list, regularization, grad_clip, name)

    def _update_op(self, param: Parameter, grad: Variable, lr: Variable) -> UpdateOp:
        return UpdateOp("sgd", {"Param": param, "Grad": grad, "LearningRate": lr}, {"ParamOut": param})


SGDOptimizer = SGD  # Paddle's fluid name
