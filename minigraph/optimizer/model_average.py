"""ModelAverage: a running average of the parameters over a sliding window of training steps,
swapped in for evaluation and export (`apply`) and swapped back out afterwards (`restore`).

Static mode, as in Paddle: build the network, `minimize`, then create ModelAverage in the
same program_guard. It appends one `average_accumulates` op per averaged parameter at the end
of the main program (after the update ops, so it sees the updated values), keeps seven
accumulators per parameter (`<p>_sum_1_k`, `_sum_2_k`, `_sum_3_k`, `_restore_k`: shaped like
p; `_num_accumulates_k`, `_old_num_accumulates_k`, `_num_updates_k`: int64 [1]; all 0 at
start), and builds two small programs, `apply_program` and `restore_program`, that
`apply`/`restore` run with the executor.

Where we differ from Paddle on purpose:
* only parameters with `do_model_average=True` are averaged (a batch_norm built with
  `do_model_average_for_mean_and_var=False` keeps its statistics out of the average);
* the accumulation ops have the Optimize role, so `clone(for_test=True)` drops them and
  running a test program never moves the average;
* misuse raises ModelAverageError instead of producing NaN or losing the trained weights:
  `apply` before any accumulation, `apply` twice without `restore`, `restore` with nothing
  applied, no executor;
* `apply(...)` swaps the average in when it is called, so `ma.apply(exe, need_restore=False)`
  works without a `with` block (in Paddle that call does nothing until entered);
* float64 parameters are averaged in float64 (Paddle always divides in float32).

Dygraph mode: create it inside `dygraph.guard()` with `parameter_list=layer.parameters()`,
then call `ma.step()` (or `ma.minimize(loss)`, Paddle's spelling) after each optimizer step;
`apply()`/`restore()` need no executor there. The same `average_accumulates` kernel runs in
both modes.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from minigraph.errors import ArgumentTypeError, GraphBuildError, InvalidArgumentError, MinigraphError
from minigraph.executor.scope import Scope, global_scope
from minigraph.ir.builder import Builder
from minigraph.ir.framework import current_builder
from minigraph.ir.operator import OpRole
from minigraph.ir.program import Program
from minigraph.ir.variable import Parameter, Variable
from minigraph.ops.average import check_windows
from minigraph.optimizer.average_swap import Averaged, append_apply_ops, swap_programs
from minigraph.regularizer import as_regularizer


class ModelAverageError(MinigraphError, RuntimeError):
    """ModelAverage used out of order: apply/restore at the wrong time, or no executor."""


# Accumulator kinds in Paddle's creation order, with their shape/dtype rule.
_LIKE_PARAM = ("sum_1", "sum_2", "sum_3", "restore")
_COUNTERS = ("num_accumulates", "old_num_accumulates", "num_updates")


def _check_window(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ArgumentTypeError(f"ModelAverage: {what} must be a non-negative int, got {value!r}")
    return int(value)


class ModelAverage:
    """Average the parameters over a window of recent steps; see the module docstring.

        opt.minimize(loss)
        ma = minigraph.optimizer.ModelAverage(0.15, min_average_window=2, max_average_window=10)
        ...train...
        with ma.apply(exe):          # averaged weights inside, trained weights restored after
            exe.run(test_program, feed=...)

    The window: a step rolls the window over once `num_accumulates >= min_average_window`
    and `num_accumulates >= min(max_average_window, int(num_updates * average_window_rate))`;
    the applied value averages the current partial window and the last completed one.
    `regularization` is accepted for Paddle compatibility and unused (nothing is updated).
    """

    def __init__(
        self,
        average_window_rate: float,
        min_average_window: int = 10000,
        max_average_window: int = 10000,
        regularization: Any = None,
        parameter_list: Iterable[Any] | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(average_window_rate, bool) or not isinstance(average_window_rate, (int, float, np.number)):
            raise ArgumentTypeError(f"ModelAverage: average_window_rate must be a number, got {average_window_rate!r}")
        if not math.isfinite(float(average_window_rate)) or average_window_rate < 0:
            raise InvalidArgumentError(
                f"ModelAverage: average_window_rate must be finite and >= 0, got {average_window_rate!r}"
            )
        self.average_window = float(average_window_rate)
        self.min_average_window = _check_window(min_average_window, "min_average_window")
        self.max_average_window = _check_window(max_average_window, "max_average_window")
        check_windows(self.min_average_window, self.max_average_window, "ModelAverage")
        self.regularization = as_regularizer(regularization, "ModelAverage")
        self._name = name

        parameter_list = list(parameter_list) if parameter_list is not None else None
        builder = self._builder = current_builder()
        if builder.immediate and parameter_list is None:
            raise InvalidArgumentError("ModelAverage: in dygraph mode pass parameter_list=layer.parameters()")
        for p in parameter_list or ():
            if isinstance(p, Variable) and p.block.program is not builder.program:
                raise GraphBuildError(
                    f"ModelAverage: parameter {p.name!r} belongs to another program than the default main "
                    f"program; create ModelAverage inside the program_guard that built it"
                )
        self._items = [self._create_accumulators(builder, p) for p in self._select(builder.program, parameter_list)]
        self._applied_scopes: weakref.WeakSet[Scope] = weakref.WeakSet()
        self._eager_applied = False
        self.apply_program: Program | None = None
        self.restore_program: Program | None = None
        if not builder.immediate:
            # The accumulation runs with every run of the main program (eager: step()).
            self._append_accumulate_ops()
            self.apply_program, self.restore_program = swap_programs(self._items)

    # --- public API --------------------------------------------------------------------------
    @property
    def averaged_parameters(self) -> list[Any]:
        """The parameters this ModelAverage averages, in creation order."""
        return [item.param for item in self._items]

    def accumulator(self, kind: str, param: Any) -> Any:
        """The accumulator `kind` ("sum_1", ..., "num_updates") of an averaged parameter
        (given as the parameter or its name)."""
        pname = param if isinstance(param, str) else param.name
        for item in self._items:
            if item.param.name == pname:
                return item.acc[kind]
        raise KeyError(f"ModelAverage does not average {pname!r}")

    def minimize(
        self, loss: Any = None, startup_program: Any = None, parameter_list: Any = None, no_grad_set: Any = None
    ) -> None:
        """Dygraph: accumulate the current parameter values (same as `step()`). Static mode:
        nothing to do, the accumulation ops already run with the main program (as in Paddle)."""
        if self._builder.immediate:
            self.step()

    def step(self) -> None:
        """Dygraph: run one `average_accumulates` per parameter; call it after each
        optimizer step."""
        if not self._builder.immediate:
            raise ModelAverageError(
                "ModelAverage.step() is for dygraph mode; in static mode the accumulation ops run "
                "every time the main program runs"
            )
        self._append_accumulate_ops()

    def apply(
        self, executor: Any = None, need_restore: bool = True, scope: Scope | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """Swap the averaged values into the parameters, saving the trained values.

        Returns a context manager that puts the trained values back when the block ends
        (even if it raises) unless `need_restore=False`; then call `restore(executor)`.
        The swap happens at the call. In static mode `executor` is required and `scope`
        defaults to `minigraph.global_scope()`; in dygraph mode both are ignored.

            with ma.apply(exe):
                exe.run(test_program, feed=feed, fetch_list=[pred])
        """
        if self._builder.immediate:
            self._apply_eager()
        else:
            scope = self._static_scope(executor, scope, "apply")
            self._apply_static(executor, scope)
        return self._restore_on_exit(executor, need_restore, scope)

    def restore(self, executor: Any = None, scope: Scope | None = None) -> None:
        """Put back the trained values saved by the last `apply`."""
        if self._builder.immediate:
            if not self._eager_applied:
                raise ModelAverageError("ModelAverage.restore(): nothing to restore, apply() was not called")
            for item in self._items:
                self._builder.append_op("assign", {"X": item.acc["restore"]}, {"Out": item.param}, role=OpRole.OPTIMIZE)
            self._eager_applied = False
            return
        scope = self._static_scope(executor, scope, "restore")
        if scope not in self._applied_scopes:
            raise ModelAverageError(
                "ModelAverage.restore(): nothing to restore in this scope, apply() was not called "
                "(restoring now would overwrite the parameters with the unused restore buffers)"
            )
        executor.run(self.restore_program, scope=scope)
        self._applied_scopes.discard(scope)

    def __repr__(self) -> str:
        return (
            f"ModelAverage(average_window_rate={self.average_window}, min_average_window="
            f"{self.min_average_window}, max_average_window={self.max_average_window}, "
            f"{len(self._items)} parameters)"
        )

    # --- construction --------------------------------------------------------------------------
    def _select(self, main: Program, parameter_list: Iterable[Any] | None) -> list[Any]:
        """The parameters to average: the given ones or every parameter of the main program,
        keeping only those whose do_model_average is true (Paddle ignores the flag)."""
        if parameter_list is None:
            candidates = list(main.all_parameters())
        else:
            candidates = []
            for p in parameter_list:
                if isinstance(p, str):
                    found = main.global_block()._find_var_recursive(p)
                    if not isinstance(found, Parameter):
                        raise InvalidArgumentError(f"ModelAverage: {p!r} is not a parameter of the main program")
                    p = found
                elif not isinstance(p, Parameter):
                    raise ArgumentTypeError(f"ModelAverage: parameter_list holds {p!r}, which is not a parameter")
                candidates.append(p)
        chosen, seen = [], set()
        for p in candidates:
            if p.do_model_average and p.name not in seen:
                seen.add(p.name)
                chosen.append(p)
        if not chosen:
            raise GraphBuildError(
                "ModelAverage: no parameter to average (create it after building the network and "
                "calling minimize, and check ParamAttr(do_model_average=...))"
            )
        for p in chosen:
            if p.dtype not in ("float32", "float64"):
                raise GraphBuildError(f"ModelAverage: parameter {p.name!r} is {p.dtype}; only float parameters average")
        return chosen

    def _create_accumulators(self, builder: Builder, param: Any) -> Averaged:
        acc = {}
        for kind in _LIKE_PARAM + _COUNTERS:
            name = builder.names.generate(f"{param.name}_{kind}")
            if kind in _COUNTERS:
                acc[kind] = builder.create_persistable(name, (1,), "int64", 0)
            else:
                acc[kind] = builder.create_persistable(name, param.shape, param.dtype, 0.0)
        return Averaged(param, acc)

    def _append_accumulate_ops(self) -> None:
        for item in self._items:
            self._builder.append_op(
                "average_accumulates",
                self._op_inputs(item),
                self._op_outputs(item),
                self._op_attrs(),
                role=OpRole.OPTIMIZE,  # clone(for_test=True) drops it (Paddle keeps it); eager: not recorded
            )

    def _op_inputs(self, item: Averaged) -> dict[str, Any]:
        a = item.acc
        return {
            "param": item.param,
            "in_sum_1": a["sum_1"],
            "in_sum_2": a["sum_2"],
            "in_sum_3": a["sum_3"],
            "in_num_accumulates": a["num_accumulates"],
            "in_old_num_accumulates": a["old_num_accumulates"],
            "in_num_updates": a["num_updates"],
        }

    def _op_outputs(self, item: Averaged) -> dict[str, Any]:
        a = item.acc
        return {
            "out_sum_1": a["sum_1"],
            "out_sum_2": a["sum_2"],
            "out_sum_3": a["sum_3"],
            "out_num_accumulates": a["num_accumulates"],
            "out_old_num_accumulates": a["old_num_accumulates"],
            "out_num_updates": a["num_updates"],
        }

    def _op_attrs(self) -> dict[str, Any]:
        return {
            "average_window": self.average_window,
            "min_average_window": self.min_average_window,
            "max_average_window": self.max_average_window,
        }

    # --- static apply --------------------------------------------------------------------------
    def _static_scope(self, executor: Any, scope: Scope | None, what: str) -> Scope:
        if executor is None:
            raise ModelAverageError(f"ModelAverage.{what}() needs the executor that runs the programs: {what}(exe)")
        if not hasattr(executor, "run"):
            raise ArgumentTypeError(f"ModelAverage.{what}(): expected an Executor, got {type(executor).__name__}")
        return global_scope() if scope is None else scope

    def _apply_static(self, executor: Any, scope: Scope) -> None:
        if scope in self._applied_scopes:
            raise _twice_error()
        counts = []
        for item in self._items:
            counts.append(sum(_scope_count(scope, item.acc[k]) for k in ("num_accumulates", "old_num_accumulates")))
        self._check_counts(counts)
        assert self.apply_program is not None
        executor.run(self.apply_program, scope=scope)
        self._applied_scopes.add(scope)

    def _check_counts(self, counts: list[int]) -> None:
        empty = [item.param.name for item, n in zip(self._items, counts) if n == 0]
        if empty:
            raise ModelAverageError(
                f"ModelAverage.apply(): nothing accumulated yet for {empty[:3]}"
                f"{' and more' if len(empty) > 3 else ''}; run at least one training step after creating "
                f"ModelAverage (Paddle would divide 0/0 and set the parameters to NaN)"
            )

    @contextlib.contextmanager
    def _restore_on_exit(self, executor: Any, need_restore: bool, scope: Scope | None) -> Iterator[None]:
        try:
            yield
        finally:
            # Tolerate an explicit restore() inside the block: restore only what is still applied.
            if need_restore and self._is_applied(scope):
                self.restore(executor, scope=scope)

    def _is_applied(self, scope: Scope | None) -> bool:
        if self._builder.immediate:
            return self._eager_applied
        return scope in self._applied_scopes

    # --- dygraph -------------------------------------------------------------------------------
    def _apply_eager(self) -> None:
        if self._eager_applied:
            raise _twice_error()
        counts = [
            int(np.sum(item.acc["num_accumulates"].value) + np.sum(item.acc["old_num_accumulates"].value))
            for item in self._items
        ]
        self._check_counts(counts)
        for item in self._items:
            append_apply_ops(self._builder, item, role=OpRole.OPTIMIZE)
        self._eager_applied = True


def _scope_count(scope: Scope, var: Variable) -> int:
    held = scope.find_var(var.name)
    if held is None or not held.is_initialized():
        raise ModelAverageError(
            f"ModelAverage.apply(): accumulator {var.name!r} has no value in this scope; run the "
            f"startup program (after creating ModelAverage) and at least one training step first"
        )
    return int(np.sum(held.get_tensor()))


def _twice_error() -> ModelAverageError:
    return ModelAverageError(
        "ModelAverage.apply(): the average is already applied; call restore() first (applying "
        "again would overwrite the saved trained weights with the averaged ones)"
    )
