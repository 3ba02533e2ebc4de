"""The tracer: what runs ops eagerly inside `dygraph.guard()`.

It stands in for a Program (names, parameters, a block), so LayerHelper and every layer
builder work unchanged: `append_op` runs the registered kernel at once and, when a gradient
is needed, records a tape entry on the output variables. backward replays the registered
grad makers over those entries (minigraph/dygraph/backward.py).
"""

from __future__ import annotations

import contextvars
import itertools
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigraph.dygraph.variable import EagerParameter, EagerVariable
from minigraph.errors import GraphBuildError, MinigraphError
from minigraph.ir.naming import NameGenerator
from minigraph.registry import check_attrs, get_op
from minigraph.types import shape_text

_current: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar("tracer", default=None)
_entry_ids = itertools.count()
_tracer_ids = itertools.count(start=1_000_000_000)


def current_tracer() -> Tracer | None:
    return _current.get()


@dataclass
class TapeEntry:
    """One recorded op: enough to run its grad maker later."""

    seq: int
    op_type: str
    attrs: dict[str, Any]
    in_vals: dict[str, Any]  # slot -> array, list of arrays, or None (snapshots at call time)
    out_vals: dict[str, Any]
    in_keys: dict[str, list[tuple[EagerVariable, int]]]  # slot -> [(var, version)]
    out_keys: dict[str, list[tuple[EagerVariable, int]]]


class EagerBlock:
    """The block-shaped face of the tracer: create_var / append_op / var."""

    def __init__(self, tracer: Tracer) -> None:
        self.program = tracer
        self.idx = 0
        self.vars: weakref.WeakValueDictionary[str, EagerVariable] = weakref.WeakValueDictionary()

    def create_var(
        self,
        name: str | None = None,
        shape: Any = None,
        dtype: Any = "float32",
        persistable: bool = False,
        stop_gradient: bool = False,
        is_data: bool = False,
    ) -> EagerVariable:
        v = EagerVariable(
            name or self.program.names.generate("tmp"), None, stop_gradient=stop_gradient, persistable=persistable
        )
        self.vars[v.name] = v
        return v

    def var(self, name: str) -> EagerVariable:
        v = self._find_var_recursive(name)
        if v is None:
            raise KeyError(f"eager variable {name!r} does not exist")
        return v

    def has_var(self, name: str) -> bool:
        return self._find_var_recursive(name) is not None

    def _find_var_recursive(self, name: str) -> EagerVariable | None:
        return self.program.params.get(name) or self.vars.get(name)

    def append_op(
        self,
        type: str,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        attrs: dict[str, Any] | None = None,
        role: int = 0,
    ) -> None:
        self.program.trace_op(type, inputs or {}, outputs or {}, attrs or {})


class Tracer:
    def __init__(self, seed: int = 0) -> None:
        self.names = NameGenerator()
        self.params: dict[str, EagerParameter] = {}
        self.block = EagerBlock(self)
        self.grad_enabled = True
        self.random_seed = seed
        self._op_count = 0
        self._uid = next(_tracer_ids)  # keys per-"program" optimizer state, like Program._uid

    # Program-shaped API used by LayerHelper -----------------------------------------------
    def current_block(self) -> EagerBlock:
        return self.block

    def global_block(self) -> EagerBlock:
        return self.block

    def create_parameter(
        self, name: str, shape: tuple[int, ...], dtype: str, init: Any, **flags: Any
    ) -> EagerParameter:
        """A named parameter, initialised now; the same name returns the same parameter."""
        old = self.params.get(name)
        if old is not None:
            if tuple(old.shape) != tuple(shape):
                raise GraphBuildError(
                    f"variable {name!r} was created before with shape {shape_text(old.shape)}; "
                    f"the new shape {shape_text(shape)} does not match"
                )
            for key in ("trainable", "regularizer", "do_model_average", "need_clip", "optimize_attr"):
                if key in flags:
                    setattr(old, key, flags[key])
            return old
        p = EagerParameter(name, np.zeros(shape, dtype), **flags)
        self.params[name] = p
        init(p, self.block)
        p.version = 0
        return p

    # Running ops ----------------------------------------------------------------------------
    def trace_op(self, type: str, inputs: dict[str, Any], outputs: dict[str, Any], attrs: dict[str, Any]) -> None:
        opdef = get_op(type)
        attrs = check_attrs(opdef, attrs)
        self._op_count += 1
        if attrs.get("seed") == 0 and self.random_seed:
            attrs["seed"] = (self.random_seed * 1_000_003 + self._op_count) % (2**31 - 1) or 1
        ins = {s.name: self._resolve(inputs.get(s.name), s.variadic) for s in opdef.in_slots}  # type: ignore[attr-defined]
        outs = {
            s.name: self._resolve(outputs.get(s.name), s.variadic, create=True)  # type: ignore[attr-defined]
            for s in opdef.out_slots
        }  # type: ignore[attr-defined]
        try:
            opdef.infer(ins, attrs)
        except GraphBuildError as e:
            desc = "; ".join(
                f"{k}={v.name}:{v.dtype}{shape_text(v.shape)}" for k, v in ins.items() if isinstance(v, EagerVariable)
            )
            raise GraphBuildError(f"op {type}({desc}): {e}") from None
        in_keys = {
            k: [(x, x.version) for x in (v if isinstance(v, list) else [v])] for k, v in ins.items() if v is not None
        }  # versions before any in-place write
        in_vals = {
            k: ([x.value for x in v] if isinstance(v, list) else None if v is None else v.value) for k, v in ins.items()
        }
        args = [in_vals[s.name] for s in opdef.in_slots]  # type: ignore[attr-defined]
        try:
            results = opdef.kernel(attrs, *args)
        except MinigraphError:
            raise
        except Exception as e:
            from minigraph.errors import ExecutionError

            raise ExecutionError(f"op {type} failed: {type_name(e)}: {e}") from e
        requires = (
            self.grad_enabled
            and opdef.grad is not None
            and any(
                (not x.stop_gradient)
                for s, v in ins.items()
                if s not in opdef.no_grad_inputs
                for x in (v if isinstance(v, list) else [v] if v is not None else [])
            )
        )
        out_vals: dict[str, Any] = {}
        out_keys: dict[str, list[tuple[EagerVariable, int]]] = {}
        for s, value in zip(opdef.out_slots, results):  # type: ignore[attr-defined]
            target = outs[s.name]
            if target is None:
                continue
            targets = target if isinstance(target, list) else [target]
            values = value if isinstance(target, list) else [value]
            out_vals[s.name] = value
            keys = []
            for var, val in zip(targets, values):
                if var.value is not None:
                    var.version += 1
                var.value = val
                if not requires:
                    var.stop_gradient = var.stop_gradient or not var.persistable
                keys.append((var, var.version))
            out_keys[s.name] = keys
        if requires:
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

    def _one(self, value: Any, create: bool) -> EagerVariable:
        if isinstance(value, EagerVariable):
            return value
        if isinstance(value, str):
            v = self.block._find_var_recursive(value)
            if v is None:
                if not create:
                    raise GraphBuildError(f"eager variable {value!r} does not exist")
                v = self.block.create_var(value)
            return v
        raise TypeError(f"expected an eager variable, got {type(value).__name__} ({value!r:.60})")


def type_name(e: BaseException) -> str:
    return type(e).__name__


def activate(tracer: Tracer) -> contextvars.Token[Tracer | None]:
    return _current.set(tracer)


def deactivate(token: contextvars.Token[Tracer | None]) -> None:
    _current.reset(token)
