"""Plain stochastic gradient descent: p -= lr * g."""

from __future__ import annotations

from minigraph.ir.variable import Parameter, Variable
from minigraph.optimizer.base import Optimizer, UpdateOp


class SGD(Optimizer):
    """`sgd(Param, Grad, LearningRate) -> ParamOut` per parameter; no accumulators.

    minigraph.optimizer.SGD(learning_rate=0.01, regularization=L2Decay(1e-4)).minimize(loss)

    Constructor: `SGD(learning_rate, parameter_list=None, regularization=None, grad_clip=None)`.
    """

    def _update_op(self, param: Parameter, grad: Variable, lr: Variable) -> UpdateOp:
        return UpdateOp("sgd", {"Param": param, "Grad": grad, "LearningRate": lr}, {"ParamOut": param})


SGDOptimizer = SGD  # Paddle's fluid name
