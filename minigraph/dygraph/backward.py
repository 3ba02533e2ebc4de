"""Eager backward = static backward over the tape.

`loss.backward()` lays the tape entries that can reach `loss` out as the ops of a fresh
static Block, in the order they ran, giving every (variable, version) its own name (so an
in-place overwrite is just another value). It then runs the static backward transformation
(`minigraph.backward._Backward`, the code behind `append_backward` and `gradients`) over
that block, asking for the gradients of the leaves that need one, and executes the
gradient ops it emitted at once on the recorded values. Eager gradients therefore equal
static gradients by construction.
"""

from __future__ import annotations

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
    """The tape entries as a static block: one name per (variable, version)."""

    def __init__(self, entries: list[TapeEntry]) -> None:
        self.program = Program()
        self.block = self.program.global_block()
        self.names: dict[tuple[int, int], str] = {}
        self.keys: dict[str, Key] = {}
        self.env: dict[str, Any] = {}  # name -> value
        for e in entries:
            inputs = {
                slot: [self._name(k, v) for k, v in zip(keys, _listed(e.in_vals[slot]))]
                for slot, keys in e.in_keys.items()
            }
            outputs = {
                slot: [self._name(k, v) for k, v in zip(keys, _listed(e.out_vals[slot]))]
                for slot, keys in e.out_keys.items()
            }
            self.block.append_op(e.op_type, inputs, outputs, e.attrs)

    def _name(self, key: Key, value: np.ndarray) -> str:
        var, ver = key
        name = self.names.get((id(var), ver))
        if name is None:
            name = var.name if ver == 0 else f"{var.name}@V{ver}"
            while self.block.has_var(name):  # two eager variables may share a name
                name += "'"
            self.block.create_var(name, value.shape, value.dtype.name, stop_gradient=var.stop_gradient)
            self.names[(id(var), ver)] = name
            self.keys[name] = key
            self.env[name] = value
        return name


def run_backward(loss: Variable, retain_graph: bool = False) -> None:
    """Accumulate d(loss)/d(leaf) into `_grad` of every leaf that needs a gradient."""
    if loss.value is None:
        raise GraphBuildError(f"backward(): {loss.name!r} has no value")
    root = (loss, loss.version)
    if loss.stop_gradient or loss.version not in loss._producers:
        raise GraphBuildError(
            f"backward: {loss.name!r} does not depend on any variable that needs a gradient "
            f"(all inputs have stop_gradient=True)"
        )
    entries = _reachable(root)
    layout = _Layout(entries)
    leaves = [name for name, (var, ver) in layout.keys.items() if ver not in var._producers and not var.stop_gradient]
    target = layout.block.var(layout.names[(id(loss), loss.version)])
    first_grad_op = len(layout.block.ops)
    grads = _Backward(layout.block, [target], set(leaves), set()).run({})
    _execute(layout.block.ops[first_grad_op:], layout.env)
    for name in leaves:
        if name in grads:
            var = layout.keys[name][0]
            g = layout.env[grads[name]]
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
