"""Block: an ordered dict of variables and a list of operators. `append_op` validates the
op against its OpDef and infers output shapes, so mistakes surface where they are made.

The containers are private (`_vars`, `_ops`) and exposed read-only (`vars`, `ops`): every
change goes through a Block method that bumps the program version, which keys the
executor's plan cache. A subclass may replace `self._vars` with another mapping (the eager
tape keeps a `weakref.WeakValueDictionary`), so methods always go through `self._vars`."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from minigraph.errors import GraphBuildError, OpTypeError
from minigraph.ir.naming import current_name_scope
from minigraph.ir.operator import Operator, OpRole
from minigraph.ir.variable import Parameter, Variable
from minigraph.ir.views import OpList
from minigraph.registry import OpDef, check_attrs, get_op
from minigraph.types import shape_text

if TYPE_CHECKING:
    from minigraph.ir.program import Program

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_INSIDE: dict[str, bool] = {}  # filename -> whether it is part of minigraph (abspath is slow)


def user_callsite() -> str:
    """`file:line` of the first stack frame outside minigraph: where the user built the op."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        inside = _INSIDE.get(filename)
        if inside is None:
            inside = _INSIDE[filename] = os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep)
        if not inside:
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


class Block:
    def __init__(self, program: Program, idx: int, parent_idx: int = -1) -> None:
        self.program = program
        self.idx = idx
        self.parent_idx = parent_idx
        self._vars: MutableMapping[str, Variable] = {}
        self._ops: list[Operator] = []

    @property
    def vars(self) -> Mapping[str, Variable]:
        """Name -> Variable, in creation order (a read-only live view)."""
        return MappingProxyType(self._vars)

    @property
    def ops(self) -> Sequence[Operator]:
        """The operators in execution order (a read-only live view)."""
        return OpList(self._ops)

    # --- variables -------------------------------------------------------------------
    def var(self, name: str) -> Variable:
        """The variable called `name` in this block or its ancestors; KeyError if absent."""
        v = self._find_var_recursive(name)
        if v is None:
            raise KeyError(f"variable {name!r} is not in block {self.idx}")
        return v

    def has_var(self, name: str) -> bool:
        return name in self._vars

    def _find_var_recursive(self, name: str) -> Variable | None:
        """`name` in this block or the nearest ancestor that has it."""
        block = self
        while name not in block._vars:
            if block.parent_idx < 0:
                return None
            block = self.program.blocks[block.parent_idx]
        return block._vars[name]

    def create_var(
        self,
        name: str | None = None,
        shape: Any = None,
        dtype: Any = "float32",
        persistable: bool = False,
        stop_gradient: bool = False,
        is_data: bool = False,
    ) -> Variable:
        """Create (or return the existing) variable `name`; a generated `tmp_N` name if None."""
        if name is None:
            name = self.program.names.generate("tmp")
        old = self._vars.get(name)
        if old is not None:
            return old
        return self._add_var(Variable(self, name, shape, dtype, persistable, stop_gradient, is_data))

    def create_parameter(self, name: str, shape: Any, dtype: Any = "float32", **kw: Any) -> Parameter:
        """Create a Parameter; a later creation with the same name replaces the record
        (its flags win, as in Paddle) but must agree on shape."""
        old = self._vars.get(name)
        p = Parameter(self, name, shape, dtype, **kw)
        if old is not None and tuple(old.shape) != tuple(p.shape):
            raise GraphBuildError(
                f"variable {name!r} was created before with shape {shape_text(old.shape)}; "
                f"the new shape {shape_text(p.shape)} does not match"
            )
        return self._add_var(p)

    def _add_var(self, v: Variable) -> Variable:
        """Add a variable record built elsewhere (a loaded or copied Parameter), replacing
        any record of the same name."""
        v.block = self
        self._vars[v.name] = v
        self.program._bump()
        return v

    def _rename_var(self, old: str, new: str) -> None:
        """Rename a variable record (the ops that use it are the caller's to rename)."""
        v = self._vars.pop(old)
        v.name = new
        self._vars[new] = v
        self.program._bump()

    def _remove_var(self, name: str) -> None:
        self._vars.pop(name, None)
        self.program._bump()

    # --- operators -------------------------------------------------------------------
    def append_op(
        self,
        type: str,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        attrs: dict[str, Any] | None = None,
        role: int = OpRole.FORWARD,
    ) -> Operator:
        """Append an op after checking it against its definition (slots, attrs, shapes)."""
        return self._add_op(self._make_op(type, inputs or {}, outputs or {}, attrs or {}, role))

    def _insert_op(
        self,
        index: int,
        type: str,
        inputs: dict[str, Any],
        outputs: dict[str, Any],
        attrs: dict[str, Any] | None = None,
        role: int = OpRole.FORWARD,
    ) -> Operator:
        return self._add_op(self._make_op(type, inputs, outputs, attrs or {}, role), index)

    def _add_op(self, op: Operator, index: int | None = None) -> Operator:
        """Append (or insert at `index`) an op record that was checked when it was made:
        by `_make_op`, or as part of a program being copied."""
        if index is None:
            self._ops.append(op)
        else:
            self._ops.insert(index, op)
        self.program._bump()
        return op

    def _remove_op(self, index: int) -> None:
        del self._ops[index]
        self.program._bump()

    def _make_op(
        self, type: str, inputs: dict[str, Any], outputs: dict[str, Any], attrs: dict[str, Any], role: int
    ) -> Operator:
        """An op record checked against its definition (slots, attrs), with its outputs'
        shapes inferred; not yet part of the block."""
        opdef = get_op(type)
        in_names = self._slot_names(opdef, opdef.in_slots, inputs, "input")
        out_names = self._slot_names(opdef, opdef.out_slots, outputs, "output", create=True)
        attrs = check_attrs(opdef, attrs)
        self._infer(opdef, in_names, out_names, attrs)
        return Operator(self, type, in_names, out_names, attrs, role, user_callsite(), current_name_scope())

    def _slot_names(
        self, opdef: OpDef, slots: Any, given: dict[str, Any], kind: str, create: bool = False
    ) -> dict[str, list[str]]:
        known = {s.name for s in slots}
        unknown = set(given) - known
        if unknown:
            raise GraphBuildError(
                f"op {opdef.type}: unknown {kind} slot(s) {sorted(unknown)}; expected {sorted(known)}"
            )
        result: dict[str, list[str]] = {}
        for slot in slots:
            value = given.get(slot.name)
            names = _as_names(value)
            if not names:
                if (
                    not slot.optional
                    and not slot.variadic
                    and not (kind == "output" and slot.name in opdef.optional_outputs)
                ):
                    raise GraphBuildError(f"op {opdef.type}: {kind} slot {slot.name!r} is required")
                continue
            if len(names) > 1 and not slot.variadic:
                raise GraphBuildError(f"op {opdef.type}: {kind} slot {slot.name!r} takes one variable, got {names}")
            for name in names:
                if self._find_var_recursive(name) is None:
                    if not create:
                        raise GraphBuildError(
                            f"op {opdef.type}: {kind} {slot.name}={name!r} is not a variable "
                            f"of this program (block {self.idx})"
                        )
                    self.create_var(name)
            result[slot.name] = names
        return result

    def _infer(
        self,
        opdef: OpDef,
        in_names: Mapping[str, Sequence[str]],
        out_names: Mapping[str, Sequence[str]],
        attrs: dict[str, Any],
    ) -> None:
        """Run the op's shape inference and record the shapes and dtypes it gives on the
        output variables (a persistable output must already have that shape)."""
        metas = self._inferred(opdef, in_names, attrs)
        for slot in opdef.out_slots:
            names = out_names.get(slot.name)
            if not names or slot.name not in metas:
                continue
            meta = metas[slot.name]
            pairs = meta if slot.variadic else [meta]
            for name, (shape, dtype) in zip(names, pairs):
                v = self.var(name)
                if v.persistable and v.shape and tuple(v.shape) != tuple(shape):
                    raise GraphBuildError(
                        f"op {opdef.type}: output {slot.name}={name!r} has shape "
                        f"{shape_text(v.shape)}, the op produces {shape_text(tuple(shape))}"
                    )
                if not v.persistable or not v.shape:
                    v.shape = tuple(int(d) for d in shape)
                v.dtype = dtype

    def _inferred(self, opdef: OpDef, in_names: Mapping[str, Sequence[str]], attrs: dict[str, Any]) -> dict[str, Any]:
        """What the op's shape inference gives for these inputs: {out slot: (shape, dtype)}
        (a list of pairs for a variadic slot). Errors name the op and its inputs."""
        ins: dict[str, Any] = {}
        for slot in opdef.in_slots:
            names = in_names.get(slot.name, ())
            vs = [self.var(n) for n in names]
            ins[slot.name] = vs if slot.variadic else (vs[0] if vs else None)
        return infer(opdef, ins, attrs)


def infer(opdef: OpDef, ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    """Run `opdef`'s shape/dtype inference on input variables (static or eager); its errors
    are prefixed with the op and its inputs' names, dtypes and shapes."""
    try:
        return opdef.infer(ins, attrs)
    except (GraphBuildError, OpTypeError) as e:
        msg = str(e)
        if msg.startswith(f"op {opdef.type}"):  # the op already named itself
            raise
        raise type(e)(f"op {opdef.type}({_describe(ins)}): {msg}") from None


def _as_names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _as_names(v)]
    if isinstance(value, Variable):
        return [value.name]
    if isinstance(value, str):
        return [value]
    raise GraphBuildError(f"expected a Variable or a variable name, got {type(value).__name__}")


def _describe(ins: dict[str, Any]) -> str:
    parts = []
    for slot, v in ins.items():
        if v is None:
            continue
        vs = v if isinstance(v, list) else [v]
        parts.append(f"{slot}=" + ", ".join(f"{x.name}:{x.dtype}{shape_text(x.shape)}" for x in vs))
    return "; ".join(parts)
