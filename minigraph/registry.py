"""The op registry: one OpDef per op type holds everything about it.

A leaf module (errors and numpy only), so the IR can check ops against their definitions
without importing kernels; the op families in `minigraph.ops` register themselves on import.

Slot specs: "X" is one variable, "X?" is optional, "X*" is a list of variables.
A kernel is called as `kernel(attrs, *inputs)` with inputs in slot order (None for an
absent optional slot, a list for a "*" slot) and returns a tuple of outputs in slot order.
`infer(ins, attrs)` gets the input Variables the same way and returns
{out_slot: (shape, dtype)} (a list of pairs for "*" slots); it raises GraphBuildError.
A grad maker `grad(g)` emits the gradient ops through a GradContext (see below); eager mode
runs the same backward transformation over its tape, so there is one implementation.

Unwired outputs: for an op with `optional_outputs`, the executor adds the reserved attr
`attrs[WIRED]` (the key "@wired", never part of a schema or a printed program): a tuple
with one bool per output slot, False where the op leaves that slot unwired. A kernel may
skip computing an unwired output and return None in its place (conv2d_grad skips the input
gradient of a first layer, whose input needs none). Without the key every output is wired;
kernels must work either way (`wired(attrs, i)`).

Buffers: kernels allocate big outputs with minigraph.ops.buffers.empty/zeros, which reuse
dead buffers while a plan runs (see that module).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from minigraph.errors import GraphBuildError, OpTypeError


class GradContext(Protocol):
    """What a grad maker sees of one forward op while the backward transformation runs.

    Values are variable names: `input(slot)` / `output(slot)` name the forward values (a list
    for a "*" slot), `out_grad(slot)` the gradient flowing into an output (zeros if none),
    `in_grad(slot)` the name to write an input's gradient to (None where no gradient is
    wanted), and `emit` appends a gradient op. Eager mode runs the same transformation over
    its tape, so this is the only interface grad makers are written against.
    """

    def input(self, slot: str) -> Any: ...
    def output(self, slot: str) -> Any: ...
    def out_grad(self, slot: str) -> Any: ...
    def has_out_grad(self, slot: str) -> bool: ...
    def in_grad(self, slot: str) -> Any: ...
    def var(self, name: str) -> Any: ...
    def attr(self, name: str) -> Any: ...

    @property
    def attrs(self) -> dict[str, Any]: ...

    def emit(self, type: str, attrs: dict[str, Any] | None = None, **slots: Any) -> Any: ...


@dataclass(frozen=True)
class Slot:
    name: str
    optional: bool = False
    variadic: bool = False

    @staticmethod
    def parse(spec: str) -> Slot:
        if spec.endswith("?"):
            return Slot(spec[:-1], optional=True)
        if spec.endswith("*"):
            return Slot(spec[:-1], variadic=True)
        return Slot(spec)


@dataclass(frozen=True)
class OpDef:
    type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    kernel: Callable[..., tuple[Any, ...]]
    infer: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
    attrs: dict[str, Any] = field(default_factory=dict)
    grad: Callable[[GradContext], None] | None = None
    no_grad: str | None = None  # why this op has no gradient (a visible decision)
    no_grad_inputs: tuple[str, ...] = ()  # inputs never differentiated (labels, indices)
    inplace: dict[str, str] = field(default_factory=dict)  # out slot -> the in slot it is
    optional_outputs: tuple[str, ...] = ()  # outputs a caller may leave unwired
    # An input whose buffer the output may take when the input dies at this op (the executor
    # then hands it to the buffer pool before the call). Only for kernels that allocate one
    # buffer of that size, their output, and compute it elementwise from this input.
    out_may_reuse: str | None = None
    # Inputs the kernel reads for their shape and dtype only (elementwise_add_grad's X and Y):
    # the executor may free such a value earlier and pass a stand-in of that shape and dtype.
    shape_only_inputs: tuple[str, ...] = ()
    # Whether the kernel may split its work across worker threads during an executor run
    # (ops/team.py); only runs of programs with such an op make the team available.
    splits_work: bool = False
    # The parsed slot specs, derived from `inputs` / `outputs` (not constructor arguments).
    in_slots: tuple[Slot, ...] = field(init=False, repr=False, compare=False)
    out_slots: tuple[Slot, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.grad is None) == (self.no_grad is None):
            raise ValueError(f"op {self.type}: give exactly one of grad= and no_grad=")
        # A frozen dataclass sets its own fields through object.__setattr__ as well.
        object.__setattr__(self, "in_slots", tuple(Slot.parse(s) for s in self.inputs))
        object.__setattr__(self, "out_slots", tuple(Slot.parse(s) for s in self.outputs))

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.in_slots)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.out_slots)


WIRED = "@wired"


def wired(attrs: dict[str, Any], i: int) -> bool:
    """Whether output slot `i` of the op is wired (True when the caller did not say)."""
    flags = attrs.get(WIRED)
    return flags is None or flags[i]


_REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.type in _REGISTRY:
        raise ValueError(f"op type {opdef.type!r} registered twice")
    _REGISTRY[opdef.type] = opdef
    return opdef


def get_op(op_type: str) -> OpDef:
    try:
        return _REGISTRY[op_type]
    except KeyError:
        close = difflib.get_close_matches(op_type, _REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise GraphBuildError(f"unknown op type {op_type!r}{hint}") from None


def has_op(op_type: str) -> bool:
    return op_type in _REGISTRY


def all_ops() -> dict[str, OpDef]:
    return dict(_REGISTRY)


# --- attr checking ------------------------------------------------------------------


def check_attrs(opdef: OpDef, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults, refuse unknown attrs, and check each value's type against its default."""
    unknown = set(attrs) - set(opdef.attrs)
    if unknown:
        raise _unknown_attrs(opdef, unknown)
    out: dict[str, Any] = {}
    for name, default in opdef.attrs.items():
        value = attrs.get(name, default)
        out[name] = _coerce_attr(opdef.type, name, value, default)
    return out


def check_attr(opdef: OpDef, name: str, value: Any) -> Any:
    """One attribute's value, checked against (and coerced to the type of) its default;
    an attribute the op does not define is refused."""
    if name not in opdef.attrs:
        raise _unknown_attrs(opdef, {name})
    return _coerce_attr(opdef.type, name, value, opdef.attrs[name])


def _unknown_attrs(opdef: OpDef, names: set[str]) -> GraphBuildError:
    return GraphBuildError(
        f"op {opdef.type}: unknown attribute(s) {sorted(names)}; known: {sorted(opdef.attrs) or 'none'}"
    )


def _coerce_attr(op_type: str, name: str, value: Any, default: Any) -> Any:
    if default is None or value is None:
        return _plain(value)
    bad = f"op {op_type}: attribute {name!r} must be {type(default).__name__}, got {value!r}"
    if isinstance(default, bool):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise _attr_type_error(bad)
    if isinstance(default, int):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise _attr_type_error(bad)
        return int(value)
    if isinstance(default, float):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise _attr_type_error(bad)
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise _attr_type_error(bad)
        return value
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise _attr_type_error(bad)
        return [_plain(v) for v in value]
    return _plain(value)


def _plain(value: Any) -> Any:
    """numpy scalars and tuples become plain JSON-able Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _attr_type_error(msg: str) -> Exception:
    return OpTypeError(msg)


def op_seed(program_seed: int, position: int) -> int:
    """The seed a random op with `seed=0` gets when its program has a random_seed: a
    function of the program's seed and the op's position (1-based), so identical programs
    (or identical eager sessions) draw identical numbers and two dropout ops differ."""
    return (program_seed * 1_000_003 + position) % (2**31 - 1) or 1
