"""The emitter: what a converter writes ONNX nodes through, and the converter registry.

A converter is one small function per minigraph op type, `fn(e, op)`: it reads the op's
inputs with `e.input(op, slot)`, emits ONNX nodes with `e.node(...)` (constants with
`e.ints(...)` / `e.scalar(...)`), and writes each output it computes to `e.output(op, slot)`.
Outputs a converter does not write (batch_norm's SavedMean, dropout's Mask, reshape2's
XShape) simply do not exist in the exported graph; an op or fetch that reads one fails
with an ExportError naming it.

ONNX graphs are in SSA form (each tensor written once), minigraph programs are not (an
in-place relu writes the variable it reads). The emitter renames: the last write of a
variable gets the variable's own name (so fetched outputs keep their names) and earlier
writes get `<name>.<op index>`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from minigraph.errors import ExportError
from minigraph.ir.block import Block
from minigraph.ir.operator import Operator
from minigraph.ir.variable import Variable

Converter = Callable[["Emitter", Operator], None]
CONVERTERS: dict[str, Converter] = {}


def converts(*op_types: str) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of `op_types`."""

    def register(fn: Converter) -> Converter:
        for t in op_types:
            if t in CONVERTERS:
                raise ExportError(f"two ONNX converters for op type {t!r}")
            CONVERTERS[t] = fn
        return fn

    return register


def where_built(op: Operator) -> str:
    return f"built at {op.callsite}" if op.callsite else "loaded from a file (no build site recorded)"


class Emitter:
    """Collects the nodes and constants of one exported block (see the module docstring)."""

    def __init__(self, onnx: ModuleType, block: Block, ops: Sequence[Operator], opset: int, defined: Iterable[str]):
        self.onnx = onnx
        self.block = block
        self.opset = opset
        self.nodes: list[Any] = []
        self.constants: list[Any] = []
        defined = list(defined)
        self._current = {n: n for n in defined}  # variable -> the ONNX tensor holding its value now
        self._taken = set(block.vars) | set(defined)
        self._planned = self._plan_outputs(ops, set(defined))
        self._op_index = -1
        self._op: Operator | None = None
        self._written: dict[str, str] = {}

    def _plan_outputs(self, ops: Sequence[Operator], reserved: set[str]) -> list[dict[str, list[str]]]:
        last = {n: i for i, op in enumerate(ops) for n in op.output_arg_names}
        plans = []
        for i, op in enumerate(ops):
            plans.append(
                {
                    slot: [n if last[n] == i and n not in reserved else self.fresh(f"{n}.{i}") for n in names]
                    for slot, names in op.outputs.items()
                }
            )
        return plans

    # --- one op at a time ----------------------------------------------------------------
    def convert(self, index: int, op: Operator) -> None:
        converter = CONVERTERS.get(op.type)
        if converter is None:  # export() checks every op first; this guards direct use
            raise ExportError(f"op {op.type!r} ({where_built(op)}) has no ONNX mapping")
        self._op_index, self._op, self._written = index, op, {}
        converter(self, op)
        self._current.update(self._written)

    def fail(self, op: Operator, why: str) -> ExportError:
        """An ExportError about `op` (type, output, where it was built) saying `why`."""
        outs = ", ".join(op.output_arg_names[:1])
        return ExportError(f"cannot export op {op.type!r} (output {outs}, {where_built(op)}): {why}")

    # --- variables -----------------------------------------------------------------------
    def var(self, name: str) -> Variable:
        return self.block.var(name)

    def in_var(self, op: Operator, slot: str, k: int = 0) -> Variable:
        return self.block.var(op.input(slot)[k])

    def out_var(self, op: Operator, slot: str, k: int = 0) -> Variable:
        return self.block.var(op.output(slot)[k])

    def has_input(self, op: Operator, slot: str) -> bool:
        return bool(op.input(slot))

    def input(self, op: Operator, slot: str, k: int = 0) -> str:
        """The ONNX tensor holding input `slot` (k-th variable of a list slot) of `op`."""
        return self.value(op.input(slot)[k])

    def inputs(self, op: Operator, slot: str) -> list[str]:
        return [self.value(n) for n in op.input(slot)]

    def value(self, name: str) -> str:
        onnx_name = self._current.get(name)
        if onnx_name is None:
            raise ExportError(
                f"variable {name!r} has no value in the exported graph: it is an auxiliary output the export "
                f"does not compute (XShape, Mask, SavedMean, ...), or nothing computes it"
            )
        return onnx_name

    def output(self, op: Operator, slot: str, k: int = 0) -> str:
        """The ONNX name to write output `slot` (k-th variable) of the op being converted to."""
        name = self._planned[self._op_index][slot][k]
        self._written[op.output(slot)[k]] = name
        return name

    def outputs(self, op: Operator, slot: str) -> list[str]:
        return [self.output(op, slot, k) for k in range(len(op.output(slot)))]

    # --- nodes and constants -------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        name, k = hint, 0
        while name in self._taken:
            k += 1
            name = f"{hint}_{k}"
        self._taken.add(name)
        return name

    def node(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str] | int = 1, **attrs: Any) -> list[str]:
        """Append an ONNX node; `outputs` is a list of names or a count of fresh temporaries.
        Returns the output names. An empty input name means an omitted optional input."""
        if isinstance(outputs, int):
            base = self._op.output_arg_names[0] if self._op is not None and self._op.output_arg_names else "t"
            outputs = [self.fresh(f"{base}.{op_type.lower()}") for _ in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        name = self.fresh(f"{self._op.type if self._op else 'graph'}_{self._op_index}.{op_type}")
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), list(outputs), name=name, **attrs))
        return list(outputs)

    def node1(self, op_type: str, inputs: Sequence[str], output: str | None = None, **attrs: Any) -> str:
        """`node` with one output (a fresh temporary unless `output` is given)."""
        return self.node(op_type, inputs, [output] if output else 1, **attrs)[0]

    def const(self, value: Any, hint: str = "const") -> str:
        """A constant tensor (an initializer) holding `value`."""
        arr = np.ascontiguousarray(value)
        base = self._op.output_arg_names[0] if self._op is not None and self._op.output_arg_names else "graph"
        name = self.fresh(f"{base}.{hint}")
        self.constants.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def ints(self, values: Sequence[int], hint: str = "ints") -> str:
        """A 1-D int64 constant (shapes, axes, sizes, pads)."""
        return self.const(np.asarray(list(values), dtype=np.int64).reshape(-1), hint)

    def scalar(self, value: float, dtype: str, hint: str = "c") -> str:
        """A 0-D constant of `dtype`, rounded as minigraph's kernels round it."""
        return self.const(np.asarray(value, dtype=dtype), hint)

    def elem_type(self, dtype: str) -> int:
        return int(self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    # --- small recurring patterns ----------------------------------------------------------
    def unsqueeze(self, x: str, axes: Sequence[int], output: str | None = None) -> str:
        if not axes:
            return self.node1("Identity", [x], output) if output else x
        return self.node1("Unsqueeze", [x, self.ints(axes, "axes")], output)

    def transpose(self, x: str, perm: Sequence[int], output: str | None = None) -> str:
        return self.node1("Transpose", [x], output, perm=list(perm))

    def reduce(self, op_type: str, x: str, axes: Sequence[int], keepdims: bool, output: str | None = None) -> str:
        """ReduceSum/Mean/Max over `axes`: axes are an input from opset 13 (ReduceSum) or 18
        (the others) on, an attribute before."""
        as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        if as_input:
            return self.node1(op_type, [x, self.ints(axes, "axes")], output, keepdims=int(keepdims))
        return self.node1(op_type, [x], output, axes=list(axes), keepdims=int(keepdims))
