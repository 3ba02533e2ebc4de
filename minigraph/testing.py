"""A small public test kit: run one op, compare with a numpy reference, and check its
gradient against float64 central differences on a random weighted sum of its outputs.

    case = OpCase("scale", {"X": x}, {"scale": 2.0}, ref=lambda i, a: {"Out": 2 * i["X"]})
    check_forward(case); check_grad(case)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigraph.backward import gradients
from minigraph.executor import Executor, Scope
from minigraph.ir.framework import program_guard
from minigraph.ir.program import Program
from minigraph.ops.registry import get_op

Arrays = dict[str, Any]  # slot -> array, or list of arrays for a "*" slot


@dataclass
class OpCase:
    """One row of an op test table."""

    op: str
    inputs: Arrays
    attrs: dict[str, Any] = field(default_factory=dict)
    ref: Callable[[Arrays, dict[str, Any]], Arrays] | None = None  # numpy reference outputs
    grad: Sequence[str] | None = None  # input slots to check; None = every float input the op differentiates
    outputs: Sequence[str] | None = None  # outputs to include in forward/grad checks; None = all wired
    name: str = ""
    rtol: float = 1e-5
    atol: float = 1e-6
    grad_rtol: float = 1e-5
    grad_atol: float = 1e-7
    persistable: Sequence[str] = ()  # input slots that must be persistable (e.g. in-place statistics)
    eps: float = 1e-6  # central-difference step (larger for ops with float32 outputs)

    @property
    def id(self) -> str:
        return f"{self.op}-{self.name}" if self.name else self.op


def _as_list(v: Any) -> list[np.ndarray]:
    return [np.asarray(a) for a in v] if isinstance(v, (list, tuple)) else [np.asarray(v)]


class _OpProgram:
    """A program holding one op whose inputs are fed variables."""

    def __init__(self, case: OpCase, dtype: str | None = None, grad_slots: Sequence[str] = ()) -> None:
        self.case = case
        self.opdef = get_op(case.op)
        self.main, self.startup = Program(), Program()
        self.feeds: dict[str, np.ndarray] = {}
        self.in_vars: dict[str, list[Any]] = {}
        block = self.main.global_block()
        for slot in self.opdef.in_slots:  # type: ignore[attr-defined]
            if slot.name not in case.inputs or case.inputs[slot.name] is None:
                continue
            arrays = _as_list(case.inputs[slot.name])
            vs = []
            for k, arr in enumerate(arrays):
                if dtype is not None and arr.dtype.kind == "f":
                    arr = arr.astype(dtype)
                name = f"{slot.name.lower().replace('@', '_')}_{k}"
                persist = slot.name in case.persistable
                v = block.create_var(
                    name,
                    arr.shape,
                    arr.dtype.name,
                    persistable=persist,
                    stop_gradient=slot.name not in grad_slots,
                    is_data=not persist,
                )
                self.feeds[name] = arr
                vs.append(v)
            self.in_vars[slot.name] = vs
        self.out_vars: dict[str, list[Any]] = {}
        outputs: dict[str, Any] = {}
        for slot in self.opdef.out_slots:  # type: ignore[attr-defined]
            alias = self.opdef.inplace.get(slot.name)
            if alias is not None and alias in self.in_vars:
                outputs[slot.name] = self.in_vars[alias]
                self.out_vars[slot.name] = self.in_vars[alias]
                continue
            count = len(self.in_vars.get("X", [])) if slot.variadic else 1
            count = case.attrs.get("num", count) if slot.variadic and "num" in case.attrs else count
            if slot.variadic and "sections" in case.attrs and case.attrs["sections"]:
                count = len(case.attrs["sections"])
            vs = [block.create_var(f"{slot.name.lower().replace('@', '_')}_out_{k}") for k in range(count)]
            outputs[slot.name] = vs
            self.out_vars[slot.name] = vs
        ins = {
            s: (vs if any(x.name == s and x.variadic for x in self.opdef.in_slots) else vs[0])  # type: ignore[attr-defined]
            for s, vs in self.in_vars.items()
        }
        self.op = block.append_op(case.op, ins, outputs, case.attrs)

    def output_names(self) -> list[tuple[str, str]]:
        wanted = self.case.outputs
        return [(slot, v.name) for slot, vs in self.out_vars.items() for v in vs if wanted is None or slot in wanted]


def run_op(case: OpCase, dtype: str | None = None) -> Arrays:
    """Run the op once; returns {out slot: array or list of arrays}."""
    prog = _OpProgram(case, dtype)
    scope = Scope()
    feeds = {}
    for name, arr in prog.feeds.items():
        if prog.main.global_block().var(name).persistable:
            scope.var(name).set(arr)
        else:
            feeds[name] = arr
    fetch = [v.name for vs in prog.out_vars.values() for v in vs]
    values = dict(zip(fetch, Executor().run(prog.main, feed=feeds, fetch_list=fetch, scope=scope)))
    out: Arrays = {}
    for slot, vs in prog.out_vars.items():
        variadic = any(s.name == slot and s.variadic for s in prog.opdef.out_slots)  # type: ignore[attr-defined]
        arrs = [values[v.name] for v in vs]
        out[slot] = arrs if variadic else arrs[0]
    return out


def check_forward(case: OpCase, dtype: str | None = None) -> Arrays:
    """Compare every output named by the reference with the op's output."""
    got = run_op(case, dtype)
    if case.ref is None:
        return got
    want = case.ref({k: v for k, v in case.inputs.items()}, dict(case.attrs))
    for slot, expected in want.items():
        if case.outputs is not None and slot not in case.outputs:
            continue
        for g, w in zip(_as_list(got[slot]), _as_list(expected)):
            assert g.shape == np.shape(w), f"{case.id}: {slot} shape {g.shape} != {np.shape(w)}"
            np.testing.assert_allclose(g, w, rtol=case.rtol, atol=case.atol, err_msg=f"{case.id}: {slot}")
    return got


def differentiable_slots(case: OpCase) -> list[str]:
    opdef = get_op(case.op)
    if case.grad is not None:
        return list(case.grad)
    return [
        s.name
        for s in opdef.in_slots  # type: ignore[attr-defined]
        if s.name in case.inputs
        and case.inputs[s.name] is not None
        and s.name not in opdef.no_grad_inputs
        and s.name not in case.persistable
        and all(a.dtype.kind == "f" for a in _as_list(case.inputs[s.name]))
    ]


def check_grad(case: OpCase, eps: float | None = None, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Analytic gradients (float64, through append-style grad ops) against central
    differences of L = sum_k sum(out_k * w_k) with random weights w_k."""
    eps = case.eps if eps is None else eps
    slots = differentiable_slots(case)
    if not slots:
        raise AssertionError(f"{case.id}: no differentiable input to check")
    prog = _OpProgram(case, "float64", slots)
    rng = np.random.default_rng(seed)
    block = prog.main.global_block()
    outs = [(s, n) for s, n in prog.output_names() if block.var(n).dtype in ("float32", "float64")]
    with program_guard(prog.main, prog.startup):
        terms = []
        for _, name in outs:
            v = block.var(name)
            shape = tuple(d if d >= 0 else 1 for d in v.shape)
            wname = f"{name}_weight"
            w = block.create_var(wname, v.shape, v.dtype, stop_gradient=True, is_data=True)
            weights = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
            prog.feeds[wname] = weights.astype(v.dtype)
            prod = block.create_var(f"{name}_weighted", v.shape, v.dtype)
            block.append_op("elementwise_mul", {"X": v, "Y": w}, {"Out": prod})
            term = block.create_var(f"{name}_term", (), v.dtype)
            block.append_op("mean", {"X": prod}, {"Out": term})
            if v.dtype != "float64":  # e.g. a cast op's float32 output
                wide = block.create_var(f"{name}_term64", (), "float64")
                block.append_op("cast", {"X": term}, {"Out": wide}, {"in_dtype": v.dtype, "out_dtype": "float64"})
                term = wide
            terms.append(term)
        loss = block.create_var("check_grad_loss", (), "float64")
        block.append_op("sum", {"X": terms}, {"Out": loss})
    fwd = prog.main.clone()
    inputs = [v for s in slots for v in prog.in_vars[s]]
    grads = gradients([loss], inputs)
    exe, scope = Executor(), Scope()
    feeds = dict(prog.feeds)
    for name, arr in list(feeds.items()):
        if block.var(name).persistable:
            scope.var(name).set(arr)
            del feeds[name]

    def loss_at(feed: dict[str, np.ndarray]) -> float:
        s = Scope()
        for name in prog.case.persistable:
            for v in prog.in_vars.get(name, []):
                s.var(v.name).set(prog.feeds[v.name])
        return float(exe.run(fwd, feed=feed, fetch_list=[loss.name], scope=s)[0])

    fetch = [g.name for g in grads if g is not None]
    analytic = dict(zip(fetch, exe.run(prog.main, feed=feeds, fetch_list=fetch, scope=scope)))
    report: dict[str, list[np.ndarray]] = {}
    for v, g in zip(inputs, grads):
        base = feeds[v.name]
        numeric = np.zeros_like(base, dtype=np.float64)
        for i in np.ndindex(base.shape):
            for sign in (1, -1):
                pert = base.copy()
                pert[i] += sign * eps
                numeric[i] += sign * loss_at({**feeds, v.name: pert})
        numeric /= 2 * eps
        got = np.zeros_like(numeric) if g is None else analytic[g.name]
        np.testing.assert_allclose(
            got, numeric, rtol=case.grad_rtol, atol=case.grad_atol, err_msg=f"{case.id}: gradient of input {v.name}"
        )
        report.setdefault(v.name, []).extend([got, numeric])
    return report
