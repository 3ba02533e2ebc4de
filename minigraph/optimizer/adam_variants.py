"""Adam's relatives, built on its constructor: Adamax (infinity norm), Lamb (layer-wise trust
ratio) and AdamW (decoupled weight decay). Lamb and AdamW keep Adam's accumulators and
append a different update op."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minigraph.ir.builder import Builder, builder_for
from minigraph.ir.operator import Operator, OpRole
from minigraph.ir.program import Program
from minigraph.ir.variable import Parameter, Variable
from minigraph.optimizer.adam import Adam
from minigraph.optimizer.base import ParamsGrads, UpdateOp, _check_number

__all__ = ["AdamW", "Adamax", "Lamb"]


class Adamax(Adam):
    """`adamax`: m = b1*m + (1-b1)*g; u = max(b2*u + epsilon, |g|); p -= lr/(1-b1^t) * m/u.
    Accumulators `moment`, `inf_norm` (zeros) and `beta1_pow_acc` ([1], starting at beta1),
    which a `scale` op after each update multiplies by beta1, as in Paddle. Adam's
    constructor (`lazy_mode` changes nothing here).

        mg.optimizer.Adamax(learning_rate=0.002).minimize(loss)
    """

    def _create_accumulators(self, builder: Builder, params: list[Parameter]) -> None:
        for p in params:
            self._add_accumulator(builder, "moment", p)
            self._add_accumulator(builder, "inf_norm", p)
            self._add_accumulator(builder, "beta1_pow_acc", p, self._beta1, shape=(1,))

    def _update_op(self, param: Parameter, grad: Variable, lr: Variable) -> UpdateOp:
        m, u, b1p = (self._get_accumulator(k, param) for k in ("moment", "inf_norm", "beta1_pow_acc"))
        ins = {"Param": param, "Grad": grad, "LearningRate": lr, "Moment": m, "InfNorm": u, "Beta1Pow": b1p}
        attrs = {"beta1": self._beta1, "beta2": self._beta2, "epsilon": self._epsilon}
        return UpdateOp("adamax", ins, {"ParamOut": param, "MomentOut": m, "InfNormOut": u}, attrs)

    def apply_gradients(self, params_grads: ParamsGrads, startup_program: Program | None = None) -> list[Operator]:
        ops = super().apply_gradients(params_grads, startup_program)
        for p, g in sorted(params_grads, key=lambda pg: pg[0].name):
            if g is None or not p.trainable:
                continue
            b1p = self._get_accumulator("beta1_pow_acc", p)
            builder = builder_for(b1p, startup_program)
            builder.append_op("scale", {"X": b1p}, {"Out": b1p}, {"scale": self._beta1}, role=OpRole.OPTIMIZE)
        return ops


class Lamb(Adam):
    """`Lamb(learning_rate, lamb_weight_decay, beta1, beta2, epsilon, parameter_list,
    regularization, grad_clip, *, exclude_from_weight_decay_fn, name)`; its op `lamb`:
    Adam's bias-corrected moments give r = m_hat/(sqrt(v_hat) + epsilon) + wd*p, and
    p -= lr * (||p|| / ||r||) * r. `exclude_from_weight_decay_fn(param) -> bool` turns the
    decay off for some parameters (biases, norms).

        mg.optimizer.Lamb(learning_rate=0.002, lamb_weight_decay=0.01).minimize(loss)
    """

    def __init__(
        self,
        learning_rate: float | Variable = 0.001,
        lamb_weight_decay: float = 0.01,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-06,
        *common: Any,
        exclude_from_weight_decay_fn: Callable[[Parameter], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, beta1, beta2, epsilon, *common, **kwargs)
        self._weight_decay = _check_number(lamb_weight_decay, "Lamb: lamb_weight_decay")
        self._exclude = exclude_from_weight_decay_fn

    def _update_op(self, param: Parameter, grad: Variable, lr: Variable) -> UpdateOp:
        u = super()._update_op(param, grad, lr)
        decay = 0.0 if self._exclude is not None and self._exclude(param) else self._weight_decay
        attrs = {"beta1": self._beta1, "beta2": self._beta2, "epsilon": self._epsilon, "weight_decay": decay}
        return UpdateOp("lamb", u.inputs, u.outputs, attrs)


class AdamW(Adam):
    """Adam's constructor plus `weight_decay` and `apply_decay_param_fun` (by keyword); its
    op `adamw`: p *= 1 - lr * weight_decay (decoupled from the gradient), then Adam's step.
    `apply_decay_param_fun(name) -> bool` chooses the parameters that decay (all by default).

        mg.optimizer.AdamW(learning_rate=0.001, weight_decay=0.01).minimize(loss)
    """

    def __init__(
        self,
        *args: Any,
        weight_decay: float = 0.01,
        apply_decay_param_fun: Callable[[str], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._coeff = _check_number(weight_decay, "AdamW: weight_decay")
        self._decays = apply_decay_param_fun

    def _update_op(self, param: Parameter, grad: Variable, lr: Variable) -> UpdateOp:
        u = super()._update_op(param, grad, lr)
        decay = self._decays is None or bool(self._decays(param.name))
        attrs = {**u.attrs, "coeff": self._coeff, "with_decay": decay, "lr_ratio": 1.0}
        return UpdateOp("adamw", u.inputs, u.outputs, attrs)


# fluid's names
AdamaxOptimizer = Adamax
LambOptimizer = Lamb
