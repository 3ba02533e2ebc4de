"""Learning-rate schedules as program ops, driven by a global step counter.

The counter is a persistable int64 [1] variable `@LR_DECAY_COUNTER@`, set to `begin - 1` by
the startup program and advanced by an `increment` op at the start of the schedule, so the
first run of the main program sees step `begin` (0 for the decays, 1 for noam_decay, as in
Paddle). All schedules of a program share it. Each schedule returns a float32 [1] variable
to pass as an optimizer's `learning_rate`:

    lr = mg.layers.exponential_decay(learning_rate=0.1, decay_steps=100, decay_rate=0.5, staircase=True)
    mg.optimizer.SGD(learning_rate=lr).minimize(loss)

The ops carry the Optimize role, so `clone(for_test=True)` drops them: running a test
program never advances the counter (Paddle's test clones keep the increment).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from minigraph.errors import GraphBuildError
from minigraph.ir.operator import OpRole
from minigraph.ir.variable import Variable
from minigraph.layers.helper import LayerHelper

__all__ = [
    "autoincreased_step_counter",
    "cosine_decay",
    "exponential_decay",
    "inverse_time_decay",
    "linear_lr_warmup",
    "natural_exp_decay",
    "noam_decay",
    "piecewise_decay",
    "polynomial_decay",
]

COUNTER = "@LR_DECAY_COUNTER@"


def autoincreased_step_counter(counter_name: str | None = None, begin: int = 1, step: int = 1) -> Variable:
    """A persistable int64 [1] counter that reads `begin` on the first run and grows by `step`
    each run (created once per program; later calls return it)."""
    helper = LayerHelper("step_counter")
    builder = helper.builder
    name = counter_name or COUNTER
    block = builder.program.global_block()
    if block.has_var(name):
        return block.var(name)
    counter = builder.create_persistable(name, (1,), "int64", begin - 1)
    builder.append_op("increment", {"X": counter}, {"Out": counter}, {"step": float(step)}, role=OpRole.OPTIMIZE)
    return counter


class _Schedule:
    """Emits one schedule's ops (float32 [1] results, Optimize role)."""

    def __init__(self, kind: str) -> None:
        self.helper = LayerHelper(kind)

    def op(self, type: str, inputs: dict[str, Any], attrs: dict[str, Any] | None = None) -> Variable:
        out = self.helper.create_tmp("float32", stop_gradient=True)
        self.helper.builder.append_op(type, inputs, {"Out": out}, attrs or {}, role=OpRole.OPTIMIZE)
        return out

    def step(self, begin: int = 0) -> Variable:
        counter = autoincreased_step_counter(COUNTER, begin, 1)
        return self.op("cast", {"X": counter}, {"in_dtype": "int64", "out_dtype": "float32"})

    def const(self, value: float) -> Variable:
        return self.op("fill_constant", {}, {"shape": [1], "dtype": "float32", "value": float(value)})

    def value(self, v: float | Variable) -> Variable:
        return v if isinstance(v, Variable) else self.const(v)

    def scale(self, x: Variable, s: float, bias: float = 0.0) -> Variable:
        return self.op("scale", {"X": x}, {"scale": float(s), "bias": float(bias)})

    def binary(self, kind: str, x: Variable, y: Variable) -> Variable:
        return self.op(f"elementwise_{kind}", {"X": x, "Y": y}, {"axis": -1})

    def unary(self, kind: str, x: Variable, **attrs: Any) -> Variable:
        return self.op(kind, {"X": x}, attrs)

    def mask(self, compare: str, x: Variable, y: Variable) -> Variable:
        """1.0 where `compare` (less_than, greater_equal, ...) holds, else 0.0."""
        holds = self.helper.create_tmp("bool", stop_gradient=True)
        self.helper.builder.append_op(compare, {"X": x, "Y": y}, {"Out": holds}, {"axis": -1}, role=OpRole.OPTIMIZE)
        return self.op("cast", {"X": holds}, {"in_dtype": "bool", "out_dtype": "float32"})

    def times(self, lr: float | Variable, x: Variable) -> Variable:
        """lr * x, for a float or a Variable learning rate."""
        return self.binary("mul", lr, x) if isinstance(lr, Variable) else self.scale(x, lr)

    def ratio(self, decay_steps: float, staircase: bool) -> Variable:
        """step / decay_steps, floored when `staircase`."""
        if not decay_steps > 0:
            raise GraphBuildError(f"{self.helper.name}: decay_steps must be positive, got {decay_steps}")
        div = self.scale(self.step(), 1.0 / decay_steps)
        return self.unary("floor", div) if staircase else div


def exponential_decay(
    learning_rate: float | Variable, decay_steps: int, decay_rate: float, staircase: bool = False
) -> Variable:
    """learning_rate * decay_rate ** (step / decay_steps) (the exponent floored with staircase)."""
    s = _Schedule("exponential_decay")
    return s.times(learning_rate, s.binary("pow", s.const(decay_rate), s.ratio(decay_steps, staircase)))


def natural_exp_decay(
    learning_rate: float | Variable, decay_steps: int, decay_rate: float, staircase: bool = False
) -> Variable:
    """learning_rate * exp(-decay_rate * step / decay_steps) (the ratio floored with staircase)."""
    s = _Schedule("natural_exp_decay")
    return s.times(learning_rate, s.unary("exp", s.scale(s.ratio(decay_steps, staircase), -decay_rate)))


def inverse_time_decay(
    learning_rate: float | Variable, decay_steps: int, decay_rate: float, staircase: bool = False
) -> Variable:
    """learning_rate / (1 + decay_rate * step / decay_steps) (the ratio floored with staircase)."""
    s = _Schedule("inverse_time_decay")
    return s.binary("div", s.value(learning_rate), s.scale(s.ratio(decay_steps, staircase), decay_rate, 1.0))


def polynomial_decay(
    learning_rate: float, decay_steps: int, end_learning_rate: float = 0.0001, power: float = 1.0, cycle: bool = False
) -> Variable:
    """(learning_rate - end) * (1 - step / decay_steps) ** power + end, the step held at
    decay_steps; with `cycle` the horizon instead grows to the next multiple of decay_steps."""
    s = _Schedule("polynomial_decay")
    step = s.step()
    if cycle:
        periods = s.binary("max", s.unary("ceil", s.scale(step, 1.0 / decay_steps)), s.const(1.0))
        horizon = s.scale(periods, decay_steps)
    else:
        step, horizon = s.binary("min", step, s.const(decay_steps)), s.const(decay_steps)
    remaining = s.scale(s.binary("div", step, horizon), -1.0, 1.0)
    return s.scale(s.unary("pow", remaining, factor=float(power)), learning_rate - end_learning_rate, end_learning_rate)


def piecewise_decay(boundaries: Sequence[int], values: Sequence[float]) -> Variable:
    """values[i] while boundaries[i-1] <= step < boundaries[i] (values[0] before the first
    boundary, values[-1] after the last)."""
    if len(values) != len(boundaries) + 1:
        raise GraphBuildError(f"piecewise_decay: {len(boundaries)} boundaries need {len(boundaries) + 1} values")
    s = _Schedule("piecewise_decay")
    step = s.step()
    lr = s.const(values[0])
    for bound, before, after in zip(boundaries, values, values[1:]):
        lr = s.binary("add", lr, s.scale(s.mask("greater_equal", step, s.const(bound)), after - before))
    return lr


def cosine_decay(learning_rate: float, step_each_epoch: int, epochs: int) -> Variable:
    """learning_rate * (cos(epoch * pi / epochs) + 1) / 2, epoch = floor(step / step_each_epoch)."""
    s = _Schedule("cosine_decay")
    angle = s.scale(s.ratio(step_each_epoch, staircase=True), math.pi / epochs)
    return s.scale(s.unary("cos", angle), learning_rate / 2, learning_rate / 2)


def noam_decay(d_model: float, warmup_steps: int, learning_rate: float = 1.0) -> Variable:
    """learning_rate * d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5),
    the step counting from 1 (the Transformer's schedule)."""
    s = _Schedule("noam_decay")
    step = s.step(begin=1)
    a = s.unary("pow", step, factor=-0.5)
    b = s.scale(step, warmup_steps**-1.5)
    return s.scale(s.binary("min", a, b), learning_rate * d_model**-0.5)


def linear_lr_warmup(learning_rate: float | Variable, warmup_steps: int, start_lr: float, end_lr: float) -> Variable:
    """start_lr + (end_lr - start_lr) * step / warmup_steps while step < warmup_steps, then
    `learning_rate` (a number or another schedule's variable)."""
    s = _Schedule("linear_lr_warmup")
    step = s.step()
    warm = s.scale(step, (end_lr - start_lr) / warmup_steps, start_lr)
    mask = s.mask("less_than", step, s.const(warmup_steps))
    after = s.binary("mul", s.value(learning_rate), s.scale(mask, -1.0, 1.0))
    return s.binary("add", s.binary("mul", warm, mask), after)
