"""What the HTML viewer's side panel shows, as one JSON-ready dict: every drawn op's
attributes, inputs and outputs (with dtype and shape), each variable's description, and,
when a scope is given, summary statistics of every persistable value found in it."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.ir.text import op_line
from minigraph.viz import style
from minigraph.viz.graph import GraphModel, GroupNode, OpNode, VarNode

HIST_BINS = 16


def describe(block: Any, models: list[GraphModel], scope: Any = None) -> dict[str, Any]:
    """{"ops": {node id: op}, "groups": {node id: group}, "varnodes": {node id: variable name},
    "vars": {name: variable}} for the nodes of `models` (the main drawing and the insets)."""
    fed = {n for op in block.ops if op.type == "feed" for n in op.output_arg_names}
    ops: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    varnodes: dict[str, str] = {}
    names: list[str] = []
    for model in models:
        for node in model.nodes:
            if isinstance(node, OpNode):
                ops[node.id] = _op(node)
                names += node.op.input_arg_names + node.op.output_arg_names
            elif isinstance(node, GroupNode):
                groups[node.id] = {
                    "anchor": node.anchor.id if node.anchor is not None else None,
                    "ops": [f"#{i} {block.ops[i].type}" for i in node.members],
                    "kinds": node.kinds,
                }
            elif isinstance(node, VarNode):
                varnodes[node.id] = node.name
                names.append(node.name)
    variables = {}
    for name in dict.fromkeys(names):  # first-seen order, no duplicates
        v = block._find_var_recursive(name)
        entry: dict[str, Any] = {"kind": style.var_kind(v, name, name in fed)}
        if v is not None:
            entry.update(dtype=v.dtype, shape=list(v.shape), persistable=bool(v.persistable))
            if v.persistable and scope is not None:
                value = _value(scope, name)
                if value is not None:
                    entry["stats"] = summary_stats(value)
        variables[name] = entry
    return {"ops": ops, "groups": groups, "varnodes": varnodes, "vars": variables}


def summary_stats(value: np.ndarray) -> dict[str, Any]:
    """Size, min, max, mean, std (as text with 6 significant digits) and a histogram of the
    finite values; NaN and Inf are counted apart."""
    a = np.asarray(value)
    flat = a.astype(np.float64, copy=False).ravel() if a.dtype != np.bool_ else a.ravel().astype(np.float64)
    finite = flat[np.isfinite(flat)]
    out: dict[str, Any] = {"size": int(a.size), "dtype": str(a.dtype), "shape": list(a.shape)}
    out["nonfinite"] = int(flat.size - finite.size)
    if finite.size == 0:
        return out
    lo, hi = float(finite.min()), float(finite.max())
    counts, _ = np.histogram(finite, bins=HIST_BINS, range=(lo, hi) if hi > lo else (lo - 0.5, hi + 0.5))
    out.update(
        min=fmt(lo),
        max=fmt(hi),
        mean=fmt(float(finite.mean())),
        std=fmt(float(finite.std())),
        hist=[int(c) for c in counts],
    )
    return out


def fmt(x: float) -> str:
    """How the panel prints a statistic (tests compare with this)."""
    return f"{x:.6g}"


def _value(scope: Any, name: str) -> np.ndarray | None:
    var = scope.find_var(name)
    if var is None or not var.is_initialized():
        return None
    return np.asarray(var.get_tensor())


def _op(node: OpNode) -> dict[str, Any]:
    op = node.op
    return {
        "type": op.type,
        "index": node.index,
        "kind": node.kind,
        "scope": op.namescope,
        "callsite": op.callsite,
        "text": op_line(op),
        # "@..." attrs are the executor's bookkeeping (which outputs are wired), not the op's
        "attrs": [[k, _attr_text(v)] for k, v in sorted(op.attrs.items()) if not k.startswith("@")],
        "inputs": [[slot, n] for slot, names in op.inputs.items() for n in names],
        "outputs": [[slot, n] for slot, names in op.outputs.items() for n in names],
        "params": [r.name for r in node.params],
        "updated": [r.name for r in node.params if r.updated],
    }


def _attr_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_attr_text(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, np.generic):
        return _attr_text(value.item())
    return str(value)
