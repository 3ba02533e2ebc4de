"""The Optimizer base: backward, then clipping, regularization and one update op per parameter.

`minimize` appends, after the gradient ops and all with the Optimize role (so
`clone(for_test=True)` drops them):

1. gradient clipping (`grad_clip`), on the (param, grad) pairs sorted by parameter name;
2. regularization (a parameter's own `ParamAttr(regularizer=...)` wins over the optimizer's);
3. per parameter, in name order: a `scale` of the learning rate when its ParamAttr asks for
   a different rate, then the update op (`sgd`, `momentum`, `adam`, ...).

The learning rate is a persistable 0-D float32 variable `learning_rate_k` and optimizer
state lives in persistable accumulators `<param>_<kind>_k`; both are filled by
`fill_constant` ops in the startup program. All names come from the main program's own name
generator, so two programs built the same way get the same names.

Subclasses describe their update for one parameter as an `UpdateOp` record
(`_update_op`); the static path appends it to the program, and an eager path can run the
same record's kernel directly.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from minigraph.backward import append_backward
from minigraph.clip import ClipGradBase
from minigraph.errors import ArgumentTypeError, InvalidArgumentError
from minigraph.ir.builder import Builder, builder_for
from minigraph.ir.framework import default_startup_program
from minigraph.ir.operator import Operator, OpRole
from minigraph.ir.program import Program
from minigraph.ir.variable import Parameter, Variable
from minigraph.regularizer import L2Decay, WeightDecayRegularizer, as_regularizer

ParamsGrads = list[tuple[Parameter, Variable]]
Names = Iterable[Any] | None  # variables or their names


@dataclass
class UpdateOp:
    """One parameter's update, as an op to append (static) or to run now (eager)."""

    type: str
    inputs: dict[str, Variable]
    outputs: dict[str, Variable]
    attrs: dict[str, Any] = field(default_factory=dict)


def _check_number(value: Any, what: str) -> float:
    if isinstance(value, Variable):
        raise ArgumentTypeError(
            f"{what} given as a Variable ({value.name!r}) is not supported; pass a Python number "
            f"(Paddle silently ignores a tensor here and uses the attribute's default)"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentTypeError(f"{what} must be a number, got {value!r}")
    return float(value)


# Keyword arguments of older fluid versions that no longer mean anything: accepted (so old
# scripts run) with a warning saying they are ignored.
OBSOLETE_ARGUMENTS = {"LARS_weight_decay": "LARS weight decay was removed from fluid's optimizers"}


def _ignore_obsolete(who: str, kwargs: dict[str, Any]) -> None:
    for key, value in kwargs.items():
        if key not in OBSOLETE_ARGUMENTS:
            raise ArgumentTypeError(f"{who}() got an unexpected keyword argument {key!r}")
        warnings.warn(f"{who}: {key}={value!r} is ignored ({OBSOLETE_ARGUMENTS[key]})", UserWarning, stacklevel=4)


class Optimizer:
    """Base class of the optimizers. `learning_rate` is a number or a float Variable with
    one value (e.g. one computed by a schedule)."""

    _fold_l2 = False  # True when the update op applies L2 decay itself (Momentum)

    def __init__(
        self,
        learning_rate: float | Variable,
        parameter_list: Iterable[Any] | None = None,
        regularization: Any = None,
        grad_clip: ClipGradBase | None = None,
        name: str | None = None,
        **obsolete: Any,
    ) -> None:
        who = type(self).__name__
        _ignore_obsolete(who, obsolete)
        if isinstance(learning_rate, Variable):
            if learning_rate.dtype not in ("float32", "float64") or tuple(learning_rate.shape) not in ((), (1,)):
                raise ArgumentTypeError(
                    f"{who}: a learning_rate Variable must be a float with shape [] or [1], got "
                    f"{learning_rate.name!r} {learning_rate.dtype}{list(learning_rate.shape)}"
                )
        elif isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)):
            raise ArgumentTypeError(f"{who}: learning_rate must be a number or a Variable, got {learning_rate!r}")
        if grad_clip is not None and not isinstance(grad_clip, ClipGradBase):
            raise ArgumentTypeError(
                f"{who}: grad_clip must be a gradient clip such as GradientClipByGlobalNorm, got {grad_clip!r}"
            )
        self._learning_rate = learning_rate if isinstance(learning_rate, Variable) else float(learning_rate)
        self._parameter_list = list(parameter_list) if parameter_list is not None else None
        self.regularization = as_regularizer(regularization, who)
        self._grad_clip = grad_clip
        self._name = name
        self._lr_vars: dict[int, Variable] = {}  # program uid -> its learning-rate variable
        self._accumulators: dict[tuple[int, str, str], Variable] = {}  # (program uid, kind, param)

    # --- public API ----------------------------------------------------------------------
    def minimize(
        self,
        loss: Variable,
        startup_program: Program | None = None,
        parameter_list: Iterable[Any] | None = None,
        no_grad_set: Iterable[Any] | None = None,
    ) -> tuple[list[Operator], ParamsGrads]:
        """Append the backward pass and the update ops for `loss`; returns
        `(optimize_ops, params_grads)`, params_grads in parameter creation order.

            opt = minigraph.optimizer.SGD(learning_rate=0.01)
            opt.minimize(loss)   # inside program_guard(main, startup)
        """
        if not isinstance(loss, Variable):
            raise ArgumentTypeError(
                f"{type(self).__name__}.minimize expects the loss Variable, got {type(loss).__name__}"
            )
        builder = builder_for(loss, startup_program or default_startup_program())
        if builder.immediate:
            # Eager: the gradients are what loss.backward() accumulated; the update ops run now.
            params = parameter_list if parameter_list is not None else self._parameter_list
            if params is None:
                raise InvalidArgumentError(
                    f"{type(self).__name__}: in dygraph mode pass parameter_list=layer.parameters()"
                )
            params_grads = builder.accumulated_gradients(list(params))
        else:
            params_grads = self.backward(loss, startup_program, parameter_list, no_grad_set)
        optimize_ops = self.apply_gradients(params_grads, startup_program)
        return optimize_ops, params_grads

    def backward(
        self,
        loss: Variable,
        startup_program: Program | None = None,
        parameter_list: Names = None,
        no_grad_set: Names = None,
    ) -> ParamsGrads:
        """The gradient ops only: `append_backward` over this optimizer's parameters.
        `startup_program` is accepted for Paddle compatibility and unused."""
        params = parameter_list if parameter_list is not None else self._parameter_list
        return append_backward(loss, parameter_list=params, no_grad_set=no_grad_set)

    def apply_gradients(self, params_grads: ParamsGrads, startup_program: Program | None = None) -> list[Operator]:
        """Append clipping, regularization and the update ops for `params_grads`; returns
        the update ops in parameter-name order."""
        # Non-trainable parameters are never updated, even when handed a gradient.
        pairs = [(p, g) for p, g in params_grads if g is not None and getattr(p, "trainable", True)]
        if not pairs:
            return []
        pairs.sort(key=lambda pg: pg[0].name)
        builder = builder_for(pairs[0][0], startup_program or default_startup_program())
        if self._grad_clip is not None:
            pairs = self._grad_clip.append_ops(pairs)
        pairs = [(p, self._regularize(p, g)) for p, g in pairs]
        lr = self._global_learning_rate(builder)
        self._create_accumulators(builder, [p for p, _ in pairs])
        ops = []
        for p, g in pairs:
            u = self._update_op(p, g, self._param_learning_rate(builder, p, lr))
            op = builder.append_op(u.type, u.inputs, u.outputs, u.attrs, role=OpRole.OPTIMIZE)
            if op is not None:  # eager mode ran it instead
                ops.append(op)
        return ops

    # --- hooks for subclasses ------------------------------------------------------------
    def _create_accumulators(self, builder: Builder, params: list[Parameter]) -> None:
        """Create the per-parameter state (with `_add_accumulator`); none by default."""

    def _update_op(self, param: Parameter, grad: Variable, lr: Variable) -> UpdateOp:
        raise NotImplementedError

    # --- helpers -------------------------------------------------------------------------
    def _regularizer_of(self, param: Parameter) -> WeightDecayRegularizer | None:
        """A parameter's own regularizer wins over the optimizer's."""
        own = getattr(param, "regularizer", None)
        return own if own is not None else self.regularization

    def _regularize(self, param: Parameter, grad: Variable) -> Variable:
        reg = self._regularizer_of(param)
        if reg is None or (self._fold_l2 and isinstance(reg, L2Decay)):
            return grad
        return reg.append_ops(param, grad)

    def _global_learning_rate(self, builder: Builder) -> Variable:
        if isinstance(self._learning_rate, Variable):
            return self._learning_rate
        uid = builder.program._uid
        lr = self._lr_vars.get(uid)
        if lr is None:
            name = builder.names.generate("learning_rate")
            lr = builder.create_persistable(name, (), "float32", self._learning_rate)
            self._lr_vars[uid] = lr
        return lr

    def _param_learning_rate(self, builder: Builder, param: Parameter, lr: Variable) -> Variable:
        """The global rate times the parameter's ParamAttr(learning_rate=...) scale."""
        factor = float(param.optimize_attr.get("learning_rate", 1.0))
        if factor == 1.0:
            return lr
        name = builder.names.generate(f"{param.name}_learning_rate")
        scaled = builder.create_var(name, lr.shape, lr.dtype, stop_gradient=True)
        builder.append_op("scale", {"X": lr}, {"Out": scaled}, {"scale": factor}, role=OpRole.OPTIMIZE)
        return scaled

    def _add_accumulator(
        self,
        builder: Builder,
        kind: str,
        param: Parameter,
        fill_value: float = 0.0,
        shape: Sequence[int] | None = None,
    ) -> Variable:
        """Persistable state `<param>_<kind>_k` shaped like `param` (or `shape`), initialised
        to `fill_value` in the startup program. Created once per program and parameter."""
        key = (builder.program._uid, kind, param.name)
        acc = self._accumulators.get(key)
        if acc is None:
            name = builder.names.generate(f"{param.name}_{kind}")
            acc = builder.create_persistable(name, param.shape if shape is None else shape, param.dtype, fill_value)
            self._accumulators[key] = acc
        return acc

    def _get_accumulator(self, kind: str, param: Parameter) -> Variable:
        return self._accumulators[(param.block.program._uid, kind, param.name)]

    def __repr__(self) -> str:
        lr = self._learning_rate.name if isinstance(self._learning_rate, Variable) else self._learning_rate
        return f"{type(self).__name__}(learning_rate={lr})"
