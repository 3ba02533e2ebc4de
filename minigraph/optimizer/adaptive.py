"""Per-coordinate adaptive optimizers of fluid's: RMSProp, Adagrad, DecayedAdagrad, Ftrl
(Adamax is with Adam's variants). Each appends its Paddle update op per parameter (minigraph/ops/optim_adaptive.py) and
keeps its state in accumulators named `<param>_<kind>_k`, as Paddle names them.

Constructors take the learning rate and their own hyperparameters in Paddle's order, then
the arguments every optimizer takes (`parameter_list, regularization, grad_clip, name`,
positionally or by keyword; see `Optimizer`)."""

from __future__ import annotations

from typing import Any

from minigraph.ir.builder import Builder
from minigraph.ir.variable import Parameter, Variable
from minigraph.optimizer.base import Optimizer, UpdateOp, _check_number

__all__ = ["Adagrad", "DecayedAdagrad", "Ftrl", "RMSProp"]


class RMSProp(Optimizer):
    """`rmsprop` per parameter: ms = rho*ms + (1-rho)*g^2 (centered: also mg = rho*mg +
    (1-rho)*g and ms - mg^2 in the root); mom = momentum*mom + lr*g/sqrt(ms + epsilon);
    p -= mom. Accumulators `momentum`, `mean_square`, `mean_grad` (zeros).

        mg.optimizer.RMSProp(learning_rate=0.01, rho=0.9).minimize(loss)
    """

    def __init__(
        self,
        learning_rate: float | Variable,
        rho: float = 0.95,
        epsilon: float = 1e-06,
        momentum: float = 0.0,
        centered: bool = False,
        *common: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, *common, **kwargs)
        self._attrs = {
            "decay": _check_number(rho, "RMSProp: rho"),
            "epsilon": _check_number(epsilon, "RMSProp: epsilon"),
            "momentum": _check_number(momentum, "RMSProp: momentum"),
            "centered": bool(centered),
        }

    def _create_accumulators(self, builder: Builder, params: list[Parameter]) -> None:
        for p in params:
            for kind in ("momentum", "mean_square", "mean_grad"):
                self._add_accumulator(builder, kind, p)

    def _update_op(self, param: Parameter, grad: Variable, lr: Variable) -> UpdateOp:
        mom, ms, mg = (self._get_accumulator(k, param) for k in ("momentum", "mean_square", "mean_grad"))
        ins = {"Param": param, "MeanSquare": ms, "Grad": grad, "Moment": mom, "LearningRate": lr, "MeanGrad": mg}
        outs = {"ParamOut": param, "MomentOut": mom, "MeanSquareOut": ms, "MeanGradOut": mg}
        return UpdateOp("rmsprop", ins, outs, dict(self._attrs))


class _MomentOptimizer(Optimizer):
    """Adagrad-like: one `moment` accumulator and an op (Param, Grad, Moment, LearningRate)."""

    _op = ""
    _initial_moment = 0.0

    def _create_accumulators(self, builder: Builder, params: list[Parameter]) -> None:
        for p in params:
            self._add_accumulator(builder, "moment", p, self._initial_moment)

    def _update_op(self, param: Parameter, grad: Variable, lr: Variable) -> UpdateOp:
        m = self._get_accumulator("moment", param)
        ins = {"Param": param, "Grad": grad, "Moment": m, "LearningRate": lr}
        return UpdateOp(self._op, ins, {"ParamOut": param, "MomentOut": m}, dict(self._attrs))


class Adagrad(_MomentOptimizer):
    """`adagrad`: m += g^2; p -= lr * g / (sqrt(m) + epsilon); `moment` starts at
    `initial_accumulator_value`."""

    _op = "adagrad"

    def __init__(
        self,
        learning_rate: float | Variable,
        epsilon: float = 1e-06,
        *common: Any,
        initial_accumulator_value: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, *common, **kwargs)
        self._attrs = {"epsilon": _check_number(epsilon, "Adagrad: epsilon")}
        self._initial_moment = _check_number(initial_accumulator_value, "Adagrad: initial_accumulator_value")


class DecayedAdagrad(_MomentOptimizer):
    """`decayed_adagrad`: m = decay*m + (1-decay)*g^2; p -= lr * g / (sqrt(m) + epsilon)."""

    _op = "decayed_adagrad"

    def __init__(
        self,
        learning_rate: float | Variable,
        decay: float = 0.95,
        epsilon: float = 1e-06,
        *common: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, *common, **kwargs)
        self._attrs = {
            "decay": _check_number(decay, "DecayedAdagrad: decay"),
            "epsilon": _check_number(epsilon, "DecayedAdagrad: epsilon"),
        }


class Ftrl(Optimizer):
    """`ftrl` (follow the regularized leader) with L1/L2 strengths `l1`, `l2` and the
    learning-rate power `lr_power`; accumulators `squared` and `linear` (zeros)."""

    def __init__(
        self,
        learning_rate: float | Variable,
        l1: float = 0.0,
        l2: float = 0.0,
        lr_power: float = -0.5,
        *common: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, *common, **kwargs)
        self._attrs = {"l1": _check_number(l1, "Ftrl: l1"), "l2": _check_number(l2, "Ftrl: l2")}
        self._attrs["lr_power"] = _check_number(lr_power, "Ftrl: lr_power")

    def _create_accumulators(self, builder: Builder, params: list[Parameter]) -> None:
        for p in params:
            self._add_accumulator(builder, "squared", p)
            self._add_accumulator(builder, "linear", p)

    def _update_op(self, param: Parameter, grad: Variable, lr: Variable) -> UpdateOp:
        sq, lin = self._get_accumulator("squared", param), self._get_accumulator("linear", param)
        ins = {"Param": param, "SquaredAccumulator": sq, "LinearAccumulator": lin, "Grad": grad, "LearningRate": lr}
        outs = {"ParamOut": param, "SquaredAccumOut": sq, "LinearAccumOut": lin}
        return UpdateOp("ftrl", ins, outs, dict(self._attrs))


# fluid's names
RMSPropOptimizer = RMSProp
AdagradOptimizer = Adagrad
DecayedAdagradOptimizer = DecayedAdagrad
FtrlOptimizer = Ftrl
