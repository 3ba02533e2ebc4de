"""Eager backward: replay the registered grad makers over the tape, newest entry first,
through the same GradContext interface static backward uses."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.dygraph.tracer import TapeEntry
from minigraph.dygraph.variable import EagerVariable
from minigraph.errors import GraphBuildError
from minigraph.registry import WIRED, check_attrs, get_op

Key = tuple[EagerVariable, int]


def _kid(key: Key) -> tuple[int, int]:
    return id(key[0]), key[1]


class EagerGradContext:
    """Names handed to grad makers are keys of a local environment of arrays."""

    def __init__(self, entry: TapeEntry, grads: dict[tuple[int, int], np.ndarray]) -> None:
        self.entry = entry
        self.opdef = get_op(entry.op_type)
        self.grads = grads
        self.env: dict[str, Any] = {}
        self.wanted: dict[str, Key] = {}

    def _variadic(self, slots: Any, slot: str) -> bool:
        return any(s.name == slot and s.variadic for s in slots)

    def _values(self, vals: dict[str, Any], prefix: str, slot: str, slots: Any) -> Any:
        value = vals.get(slot)
        if value is None:
            return [] if self._variadic(slots, slot) else None
        if isinstance(value, list):
            names = []
            for k, v in enumerate(value):
                self.env[f"{prefix}:{slot}:{k}"] = v
                names.append(f"{prefix}:{slot}:{k}")
            return names
        self.env[f"{prefix}:{slot}"] = value
        return f"{prefix}:{slot}"

    def input(self, slot: str) -> Any:
        return self._values(self.entry.in_vals, "in", slot, self.opdef.in_slots)

    def output(self, slot: str) -> Any:
        return self._values(self.entry.out_vals, "out", slot, self.opdef.out_slots)

    def attr(self, name: str) -> Any:
        return self.entry.attrs[name]

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.entry.attrs)

    def out_grad(self, slot: str) -> Any:
        keys = self.entry.out_keys.get(slot, [])
        values = self.entry.out_vals.get(slot)
        values = values if isinstance(values, list) else [values]
        names = []
        for k, (key, val) in enumerate(zip(keys, values)):
            g = self.grads.get(_kid(key))
            name = f"dout:{slot}:{k}"
            self.env[name] = g if g is not None else np.zeros_like(val)
            names.append(name)
        return names if self._variadic(self.opdef.out_slots, slot) else (names[0] if names else None)

    def has_out_grad(self, slot: str) -> bool:
        return any(_kid(k) in self.grads for k in self.entry.out_keys.get(slot, []))

    def in_grad(self, slot: str) -> Any:
        keys = self.entry.in_keys.get(slot, [])
        names: list[str | None] = []
        for k, key in enumerate(keys):
            if slot in self.opdef.no_grad_inputs or key[0].stop_gradient:
                names.append(None)
                continue
            name = f"din:{slot}:{k}"
            self.wanted[name] = key
            names.append(name)
        return names if self._variadic(self.opdef.in_slots, slot) else (names[0] if names else None)

    def emit(self, type: str, attrs: dict[str, Any] | None = None, **slots: Any) -> None:
        opdef = get_op(type)
        attrs = check_attrs(opdef, {k: v for k, v in (attrs or {}).items() if k in opdef.attrs})
        if opdef.optional_outputs:  # let the kernel skip outputs nobody wants (see ops/registry.py)
            attrs[WIRED] = tuple(slots.get(s.name) is not None for s in opdef.out_slots)  # type: ignore[attr-defined]
        args = []
        for s in opdef.in_slots:  # type: ignore[attr-defined]
            value = slots.get(s.name)
            if value is None:
                args.append([] if s.variadic else None)
            elif isinstance(value, list):
                args.append([self.env[n] for n in value])
            else:
                args.append(self.env[value])
        results = opdef.kernel(attrs, *args)
        for s, result in zip(opdef.out_slots, results):  # type: ignore[attr-defined]
            target = slots.get(s.name)
            if target is None:
                continue
            if isinstance(target, list):
                for n, r in zip(target, result):
                    if n is not None:
                        self.env[n] = r
            else:
                self.env[target] = result


def _collect(root: Key) -> list[TapeEntry]:
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
    return [seen[s] for s in sorted(seen, reverse=True)]


def run_backward(loss: EagerVariable, retain_graph: bool = False) -> None:
    if loss.value is None:
        raise ValueError(f"{loss.name!r} has no value")
    root = (loss, loss.version)
    if loss.stop_gradient or loss.version not in loss._producers:
        raise GraphBuildError(
            f"backward: {loss.name!r} does not depend on any variable that needs a gradient "
            f"(all inputs have stop_gradient=True)"
        )
    grads: dict[tuple[int, int], np.ndarray] = {_kid(root): np.ones_like(loss.value)}
    leaves: dict[tuple[int, int], Key] = {}
    entries = _collect(root)
    for entry in entries:
        if not any(_kid(k) in grads for keys in entry.out_keys.values() for k in keys):
            continue
        ctx = EagerGradContext(entry, grads)
        get_op(entry.op_type).grad(ctx)  # type: ignore[misc]
        for name, key in ctx.wanted.items():
            if name not in ctx.env:
                continue
            kid = _kid(key)
            g = ctx.env[name]
            grads[kid] = g if kid not in grads else grads[kid] + g
            if key[1] not in key[0]._producers:
                leaves[kid] = key
    for kid, (var, _) in leaves.items():
        g = grads[kid]
        var._grad = g.copy() if var._grad is None else var._grad + g
    if not retain_graph:
        for entry in entries:
            for keys in entry.out_keys.values():
                for var, ver in keys:
                    var._producers.pop(ver, None)
