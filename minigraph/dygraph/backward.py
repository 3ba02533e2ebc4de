"""Eager backward = static backward over the tape.

`loss.backward()` lays the tape entries that can reach `loss` out as the ops of a fresh
static Block, in the order they ran, giving every (variable, version) its own name (so an
in-place overwrite is just another value). It then runs the static backward transformation
(`minigraph.backward._Backward`, the code behind `append_backward` and `gradients`) over
that block, asking for the gradients of the leaves that need one, and executes the
gradient ops it emitted at once on the recorded values. Eager gradients therefore equal
static gradients by construction.

A training loop records the same ops on same-shaped values every step, so the gradient
program is cached by the tape's structure (op types, attrs, wiring, shapes, dtypes,
stop_gradient flags): a repeated step only re-binds values and runs the cached ops.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigraph.backward import _Backward
from minigraph.dygraph.tape import Key, TapeEntry
from minigraph.errors import GraphBuildError
from minigraph.ir.operator import Operator
from minigraph.ir.program import Program
from minigraph.ir.variable import Variable
from minigraph.registry import WIRED, get_op


def _reachable(root: Key) -> list[TapeEntry]:
    """The entries `root` depends on, oldest first."""
    seen: dict[int, TapeEntry] = {}
    stack = [root]
    while stack:
        var, ver = stack.pop()
        entry = var._producers.get(ver)
        if entry is None or entry.seq in seen:
            continue
        seen[entry.seq] = entry
        for keys in entry.in_keys.values():
            stack.extend(keys)
    return [seen[s] for s in sorted(seen)]


class _Layout:
    """The tape entries in a structural form: every (variable, version) gets an index, and
    each entry becomes (op type, attrs, slot -> indices). Two steps of the same training
    loop give the same `signature`, so their gradient programs are the same."""

    def __init__(self, entries: list[TapeEntry], loss: Key) -> None:
        self.index: dict[tuple[int, int], int] = {}
        self.keys: list[Key] = []
        self.values: list[np.ndarray] = []
        self.ops = [
            (e.op_type, e.attrs, self._slots(e.in_keys, e.in_vals), self._slots(e.out_keys, e.out_vals))
            for e in entries
        ]
        self.loss = self.index[(id(loss[0]), loss[1])]
        # Leaves that need a gradient: values no recorded op produced, not stop_gradient.
        self.leaves = [
            i for i, (var, ver) in enumerate(self.keys) if ver not in var._producers and not var.stop_gradient
        ]

    def _slots(self, keys: dict[str, list[Key]], vals: dict[str, Any]) -> dict[str, list[int]]:
        return {slot: [self._index(k, v) for k, v in zip(ks, _listed(vals[slot]))] for slot, ks in keys.items()}

    def _index(self, key: Key, value: np.ndarray) -> int:
        i = self.index.get((id(key[0]), key[1]))
        if i is None:
            i = self.index[(id(key[0]), key[1])] = len(self.keys)
            self.keys.append(key)
            self.values.append(value)
        return i

    def signature(self) -> tuple[Any, ...]:
        ops = tuple((t, repr(sorted(a.items())), repr(ins), repr(outs)) for t, a, ins, outs in self.ops)
        values = tuple((v.shape, v.dtype.str, k[0].stop_gradient) for v, k in zip(self.values, self.keys))
        return ops, values, self.loss, tuple(self.leaves)


@dataclass
class _GradProgram:
    """The gradient ops of one tape structure, and where the leaves' gradients land."""

    names: list[str]  # value index -> its name in the block
    ops: list[Operator]
    leaf_grads: list[tuple[int, str]]  # (value index, name of its gradient)


def _grad_program(layout: _Layout) -> _GradProgram:
    """Lay the entries out as a static block and run the static backward transformation."""
    block = Program().global_block()
    names = []
    for (var, ver), value in zip(layout.keys, layout.values):
        name = var.name if ver == 0 else f"{var.name}@V{ver}"
        while block.has_var(name):  # two eager variables may share a name
            name += "'"
        block.create_var(name, value.shape, value.dtype.name, stop_gradient=var.stop_gradient)
        names.append(name)
    for op_type, attrs, ins, outs in layout.ops:
        inputs = {slot: [names[i] for i in idx] for slot, idx in ins.items()}
        outputs = {slot: [names[i] for i in idx] for slot, idx in outs.items()}
        block.append_op(op_type, inputs, outputs, attrs)
    first_grad_op = len(block.ops)
    wanted = {names[i] for i in layout.leaves}
    grads = _Backward(block, [block.var(names[layout.loss])], wanted, set()).run({})
    leaf_grads = [(i, grads[names[i]]) for i in layout.leaves if names[i] in grads]
    return _GradProgram(names, list(block.ops[first_grad_op:]), leaf_grads)


class GradProgramCache:
    """Recently used gradient programs by tape signature (a training loop reuses one)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._programs: OrderedDict[tuple[Any, ...], _GradProgram] = OrderedDict()

    def get(self, layout: _Layout) -> _GradProgram:
        key = layout.signature()
        program = self._programs.pop(key, None)
        if program is None:
            program = _grad_program(layout)
        self._programs[key] = program
        while len(self._programs) > self.size:
            self._programs.popitem(last=False)
        return program


# Sees each backward's (leaf, gradient) pairs before they accumulate; returns the pairs to
# accumulate (EagerBuilder.add_gradient_hook).
GradHook = Callable[[list[tuple[Variable, np.ndarray]]], list[tuple[Variable, np.ndarray]]]


def run_backward(
    loss: Variable, cache: GradProgramCache, retain_graph: bool = False, hooks: Sequence[GradHook] = ()
) -> None:
    """Accumulate d(loss)/d(leaf) into `_grad` of every leaf that needs a gradient (after
    passing the pairs through `hooks`)."""
    if loss.value is None:
        raise GraphBuildError(f"backward(): {loss.name!r} has no value")
    root = (loss, loss.version)
    if loss.stop_gradient or loss.version not in loss._producers:
        raise GraphBuildError(
            f"backward: {loss.name!r} does not depend on any variable that needs a gradient "
            f"(all inputs have stop_gradient=True)"
        )
    entries = _reachable(root)
    layout = _Layout(entries, root)
    program = cache.get(layout)
    env = dict(zip(program.names, layout.values))
    _execute(program.ops, env)
    pairs = [(layout.keys[i][0], env[grad_name]) for i, grad_name in program.leaf_grads]
    for hook in hooks:
        pairs = hook(pairs)
    for var, g in pairs:
        var._grad = g.copy() if var._grad is None else var._grad + g
    if not retain_graph:
        for entry in entries:
            for keys in entry.out_keys.values():
                for var, ver in keys:
                    var._producers.pop(ver, None)


def _execute(ops: list[Operator], env: dict[str, Any]) -> None:
    """Run `ops` on the values in `env` (a plain interpreter: no plan, no buffer reuse)."""
    for op in ops:
        opdef = get_op(op.type)
        attrs = dict(op.attrs)
        if opdef.optional_outputs:  # let the kernel skip outputs nobody reads (see minigraph/registry.py)
            attrs[WIRED] = tuple(bool(op.outputs.get(s.name)) for s in opdef.out_slots)
        args = []
        for s in opdef.in_slots:
            names = op.inputs.get(s.name, [])
            args.append([env[n] for n in names] if s.variadic else (env[names[0]] if names else None))
        results = opdef.kernel(attrs, *args)
        for s, result in zip(opdef.out_slots, results):
            names = op.outputs.get(s.name, [])
            for n, r in zip(names, result if s.variadic else [result]):
                env[n] = r


def _listed(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [] if v is None else [v]
