"""The eager builder: what `dygraph.guard()` makes layers emit through.

`append_op` checks the op like a static block does (slots, attrs, shape inference on the
inputs), runs its registered kernel at once, stores the results on the output variables,
and, when an input needs a gradient, records a TapeEntry on the outputs for backward.
Ops with the Optimize role (optimizer updates, ModelAverage) are never recorded.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from minigraph.dygraph.backward import GradHook, GradProgramCache, run_backward
from minigraph.dygraph.tape import Tape, TapeEntry
from minigraph.errors import ArgumentTypeError, ExecutionError, GraphBuildError, MinigraphError
from minigraph.ir.block import infer
from minigraph.ir.builder import Builder, Slots
from minigraph.ir.operator import OpRole
from minigraph.ir.variable import Parameter, Variable
from minigraph.registry import check_attrs, get_op, op_seed
from minigraph.types import dtype_name, shape_text

_entry_ids = itertools.count()


class EagerBuilder(Builder):
    immediate = True
    follows_layer_mode = True

    def __init__(self, seed: int = 0) -> None:
        self.program = Tape(self, seed)
        self.grad_enabled = True
        self._op_count = 0  # ops run so far: the position that seeds a random op
        self._grad_programs = GradProgramCache()
        self._gradient_hooks: list[GradHook] = []

    def reseed(self, seed: int) -> None:
        self.program.random_seed = int(seed)
        self._op_count = 0

    # --- variables ---------------------------------------------------------------------------
    def constant(self, value: np.ndarray, name: str | None = None) -> Variable:
        """A new leaf variable holding `value` (stop_gradient=True, as in Paddle)."""
        v = self.create_var(name or self.names.generate("generated_var"), value.shape, value.dtype, stop_gradient=True)
        v.value = value
        return v

    def create_parameter(self, name: str, shape: tuple[int, ...], dtype: str, init: Any, **flags: Any) -> Parameter:
        """A parameter initialised now; the same name returns the same parameter."""
        params = self.program.params
        old = params.get(name)
        if old is not None:
            if tuple(old.shape) != tuple(shape):
                raise GraphBuildError(
                    f"variable {name!r} was created before with shape {shape_text(old.shape)}; "
                    f"the new shape {shape_text(tuple(shape))} does not match"
                )
            for key in Parameter.FLAGS:
                if key in flags:
                    setattr(old, key, flags[key])
            return old
        block = self.program.global_block()
        p = Parameter(block, name, shape, dtype, **flags)
        p.value = np.zeros(shape, dtype)
        params[name] = p
        block._add_var(p)
        init(p, block)  # the initializer's op runs now (TapeBlock.append_op)
        p.version = 0
        return p

    def create_persistable(self, name: str, shape: Sequence[int], dtype: str, value: float) -> Variable:
        v = self.create_var(name, tuple(shape), dtype, persistable=True, stop_gradient=True)
        attrs = {"shape": list(shape), "dtype": dtype, "value": float(value)}
        self.append_op("fill_constant", {}, {"Out": v}, attrs, role=OpRole.OPTIMIZE)
        return v

    def value_of(self, var: Variable, scope: Any = None) -> Any:
        if var.value is None:
            raise GraphBuildError(f"eager variable {var.name!r} has no value")
        return var.value

    def set_value(self, var: Variable, value: Any, scope: Any = None) -> None:
        var.set_value(value)

    # --- gradients ---------------------------------------------------------------------------
    def run_backward(self, loss: Variable, retain_graph: bool = False) -> None:
        run_backward(loss, self._grad_programs, retain_graph, self._gradient_hooks)

    def add_gradient_hook(self, hook: GradHook) -> None:
        self._gradient_hooks.append(hook)

    def accumulated_gradients(self, parameters: Sequence[Parameter]) -> list[tuple[Parameter, Variable]]:
        pairs = []
        for p in parameters:
            if p._grad is not None and p.trainable:
                g = self.create_var(f"{p.name}@GRAD", p.shape, p.dtype, stop_gradient=True)
                g.value = p._grad
                pairs.append((p, g))
        return pairs

    # --- running ops -------------------------------------------------------------------------
    def append_op(
        self, type: str, inputs: Slots = None, outputs: Slots = None, attrs: Slots = None, role: int = 0
    ) -> None:
        opdef = get_op(type)
        attrs = check_attrs(opdef, attrs or {})
        self._op_count += 1
        if attrs.get("seed") == 0 and self.program.random_seed:
            attrs["seed"] = op_seed(self.program.random_seed, self._op_count)
        inputs, outputs = inputs or {}, outputs or {}
        ins = {s.name: self._resolve(inputs.get(s.name), s.variadic) for s in opdef.in_slots}
        outs = {s.name: self._resolve(outputs.get(s.name), s.variadic, create=True) for s in opdef.out_slots}
        infer(opdef, ins, attrs)  # the same checks and messages as a static block
        in_keys = {k: [(x, x.version) for x in _listed(v)] for k, v in ins.items() if v is not None}
        in_vals = {
            k: ([x.value for x in v] if isinstance(v, list) else None if v is None else v.value) for k, v in ins.items()
        }
        try:
            results = opdef.kernel(attrs, *[in_vals[s.name] for s in opdef.in_slots])
        except MinigraphError:
            raise
        except Exception as e:
            raise ExecutionError(f"op {type} failed: {e.__class__.__name__}: {e}") from e
        records = (
            self.grad_enabled
            and not role & OpRole.OPTIMIZE
            and opdef.grad is not None
            and any(not x.stop_gradient for s, v in ins.items() if s not in opdef.no_grad_inputs for x in _listed(v))
        )
        out_vals: dict[str, Any] = {}
        out_keys: dict[str, list[tuple[Variable, int]]] = {}
        for s, value in zip(opdef.out_slots, results):
            target = outs[s.name]
            if target is None:
                continue
            targets, values = (target, value) if isinstance(target, list) else ([target], [value])
            out_vals[s.name] = value
            keys = []
            for var, val in zip(targets, values):
                if var.value is not None:
                    var.version += 1
                var.value = val
                var.shape = val.shape
                var.dtype = dtype_name(val.dtype)
                if not records:
                    var.stop_gradient = var.stop_gradient or not var.persistable
                keys.append((var, var.version))
            out_keys[s.name] = keys
        if records:
            entry = TapeEntry(next(_entry_ids), type, attrs, in_vals, out_vals, in_keys, out_keys)
            for keys in out_keys.values():
                for var, ver in keys:
                    var._producers[ver] = entry

    def _resolve(self, value: Any, variadic: bool, create: bool = False) -> Any:
        if value is None:
            return [] if variadic else None
        if isinstance(value, (list, tuple)):
            return [self._one(v, create) for v in value]
        one = self._one(value, create)
        return [one] if variadic else one

    def _one(self, value: Any, create: bool) -> Variable:
        if isinstance(value, Variable):
            if value.value is None and not create:
                raise GraphBuildError(
                    f"variable {value.name!r} holds no value: a static variable cannot be used in eager mode"
                )
            return value
        if isinstance(value, str):
            block = self.program.global_block()
            v = block._find_var_recursive(value)
            if v is None:
                if not create:
                    raise GraphBuildError(f"eager variable {value!r} does not exist")
                v = block.create_var(value)
            return v
        raise ArgumentTypeError(f"expected an eager variable, got {type(value).__name__} ({value!r:.60})")


def _listed(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [] if v is None else [v]
