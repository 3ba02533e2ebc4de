"""Momentum (heavy ball, optionally Nesterov): v = mu*v + g; p -= lr*v."""

from __future__ import annotations

from typing import Any

from minigraph.ir.builder import Builder
from minigraph.ir.variable import Parameter, Variable
from minigraph.optimizer.base import Optimizer, UpdateOp, _check_number
from minigraph.regularizer import L2Decay


class Momentum(Optimizer):
    """`momentum(Param, Grad, Velocity, LearningRate) -> ParamOut, VelocityOut` per parameter,
    with one accumulator `<param>_velocity_k` (zeros). With `use_nesterov` the step is
    `p -= lr * (g + mu * v)`. L2 decay (the optimizer's or the parameter's own) is folded
    into the op's `regularization_method`/`regularization_coeff` attributes instead of
    separate ops, as in Paddle.

        minigraph.optimizer.Momentum(0.1, momentum=0.9).minimize(loss)
    """

    _fold_l2 = True

    def __init__(
        self,
        learning_rate: float | Variable,
        momentum: float,
        use_nesterov: bool = False,
        parameter_list: Any = None,
        regularization: Any = None,
        grad_clip: Any = None,
        name: str | None = None,
        **obsolete: Any,
    ) -> None:
        super().__init__(learning_rate, parameter_list, regularization, grad_clip, name, **obsolete)
        # NOTE: Paddle accepts a tensor momentum and silently uses 0.9; we refuse it.
        self._momentum = _check_number(momentum, "Momentum: momentum")
        self._use_nesterov = bool(use_nesterov)

    def _create_accumulators(self, builder: Builder, params: list[Parameter]) -> None:
        for p in params:
            self._add_accumulator(builder, "velocity", p)

    def _update_op(self, param: Parameter, grad: Variable, lr: Variable) -> UpdateOp:
        velocity = self._get_accumulator("velocity", param)
        reg = self._regularizer_of(param)
        l2 = isinstance(reg, L2Decay)
        return UpdateOp(
            "momentum",
            {"Param": param, "Grad": grad, "Velocity": velocity, "LearningRate": lr},
            {"ParamOut": param, "VelocityOut": velocity},
            {
                "mu": self._momentum,
                "use_nesterov": self._use_nesterov,
                "regularization_method": "l2_decay" if l2 else "",
                "regularization_coeff": reg.coeff if l2 else 0.0,
            },
        )


MomentumOptimizer = Momentum  # Paddle's fluid name
