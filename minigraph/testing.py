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
from minigraph.dygraph.builder import EagerBuilder
from minigraph.executor import Executor, Scope
from minigraph.ir.framework import program_guard, use_builder
from minigraph.ir.program import Program
from minigraph.registry import get_op

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
        for slot in self.opdef.in_slots:
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
        for slot in self.opdef.out_slots:
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
            s: (vs if any(x.name == s and x.variadic for x in self.opdef.in_slots) else vs[0])
            for s, vs in self.in_vars.items()
        }
        self.op = block.append_op(case.op, ins, outputs, case.attrs)

    def output_names(self) -> list[tuple[str, str]]:
        wanted = self.case.outputs
        return [(slot, v.name) for slot, vs in self.out_vars.items() for v in vs if wanted is None or slot in wanted]


def run_op(case: OpCase, dtype: str | None = None, build_strategy: Any = None) -> Arrays:
    """Run the op once (with the executor's `build_strategy`, default every pass on);
    returns {out slot: array or list of arrays}."""
    prog = _OpProgram(case, dtype)
    scope = Scope()
    feeds = {}
    for name, arr in prog.feeds.items():
        if prog.main.global_block().var(name).persistable:
            scope.var(name).set(arr)
        else:
            feeds[name] = arr
    fetch = [v.name for vs in prog.out_vars.values() for v in vs]
    values = dict(
        zip(fetch, Executor().run(prog.main, feed=feeds, fetch_list=fetch, scope=scope, build_strategy=build_strategy))
    )
    out: Arrays = {}
    for slot, vs in prog.out_vars.items():
        variadic = any(s.name == slot and s.variadic for s in prog.opdef.out_slots)
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
        for s in opdef.in_slots
        if s.name in case.inputs
        and case.inputs[s.name] is not None
        and s.name not in opdef.no_grad_inputs
        and s.name not in case.persistable
        and all(a.dtype.kind == "f" for a in _as_list(case.inputs[s.name]))
    ]


class _GradSetup:
    """The op program plus L = sum_k mean(out_k * w_k) and its gradient ops (float64)."""

    def __init__(self, case: OpCase, seed: int) -> None:
        self.slots = differentiable_slots(case)
        if not self.slots:
            raise AssertionError(f"{case.id}: no differentiable input to check")
        prog = self.prog = _OpProgram(case, "float64", self.slots)
        block = prog.main.global_block()
        outs = [(s, n) for s, n in prog.output_names() if block.var(n).dtype in ("float32", "float64")]
        weights = loss_weights([block.var(n) for _, n in outs], seed)
        with program_guard(prog.main, prog.startup):
            terms = []
            for (_, name), wv in zip(outs, weights):
                v = block.var(name)
                w = block.create_var(f"{name}_weight", v.shape, v.dtype, stop_gradient=True, is_data=True)
                prog.feeds[w.name] = wv
                prod = block.create_var(f"{name}_weighted", v.shape, v.dtype)
                block.append_op("elementwise_mul", {"X": v, "Y": w}, {"Out": prod})
                term = block.create_var(f"{name}_term", (), v.dtype)
                block.append_op("mean", {"X": prod}, {"Out": term})
                if v.dtype != "float64":  # e.g. a cast op's float32 output
                    wide = block.create_var(f"{name}_term64", (), "float64")
                    block.append_op("cast", {"X": term}, {"Out": wide}, {"in_dtype": v.dtype, "out_dtype": "float64"})
                    term = wide
                terms.append(term)
            self.loss = block.create_var("check_grad_loss", (), "float64")
            block.append_op("sum", {"X": terms}, {"Out": self.loss})
        self.forward = prog.main.clone()
        self.inputs = [v for s in self.slots for v in prog.in_vars[s]]
        self.grads = gradients([self.loss], self.inputs)
        self.exe = Executor()
        self.feeds = {n: a for n, a in prog.feeds.items() if not block.var(n).persistable}

    def _scope(self) -> Scope:
        scope = Scope()
        block = self.prog.main.global_block()
        for name, arr in self.prog.feeds.items():
            if block.var(name).persistable:
                scope.var(name).set(arr)
        return scope

    def analytic(self) -> list[np.ndarray]:
        fetch = [g.name for g in self.grads if g is not None]
        values = dict(zip(fetch, self.exe.run(self.prog.main, feed=self.feeds, fetch_list=fetch, scope=self._scope())))
        return [
            np.zeros_like(self.feeds[v.name]) if g is None else values[g.name] for v, g in zip(self.inputs, self.grads)
        ]

    def loss_at(self, feed: dict[str, np.ndarray]) -> float:
        return float(self.exe.run(self.forward, feed=feed, fetch_list=[self.loss.name], scope=self._scope())[0])


def loss_weights(outputs: Sequence[Any], seed: int) -> list[np.ndarray]:
    """The random +-[0.5, 1.5] weights of the gradient-check loss, one array per output."""
    rng = np.random.default_rng(seed)
    out = []
    for v in outputs:
        shape = tuple(d if d >= 0 else 1 for d in v.shape)
        w = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        out.append(w.astype(v.dtype))
    return out


def static_gradients(case: OpCase, seed: int = 0) -> list[np.ndarray]:
    """Gradients of the check loss for each differentiable input (in slot order), static mode."""
    return _GradSetup(case, seed).analytic()


def check_grad(case: OpCase, eps: float | None = None, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Analytic gradients (float64, through the emitted grad ops) against central
    differences of L = sum_k mean(out_k * w_k) with random weights w_k."""
    eps = case.eps if eps is None else eps
    setup = _GradSetup(case, seed)
    report: dict[str, list[np.ndarray]] = {}
    for v, got in zip(setup.inputs, setup.analytic()):
        base = setup.feeds[v.name]
        numeric = np.zeros_like(base, dtype=np.float64)
        for i in np.ndindex(base.shape):
            for sign in (1, -1):
                pert = base.copy()
                pert[i] += sign * eps
                numeric[i] += sign * setup.loss_at({**setup.feeds, v.name: pert})
        numeric /= 2 * eps
        np.testing.assert_allclose(
            got, numeric, rtol=case.grad_rtol, atol=case.grad_atol, err_msg=f"{case.id}: gradient of input {v.name}"
        )
        report.setdefault(v.name, []).extend([got, numeric])
    return report


def eager_run(case: OpCase, dtype: str | None = None, grad_seed: int | None = None) -> tuple[Arrays, list[np.ndarray]]:
    """Run the op eagerly (inside dygraph.guard); with grad_seed, also backward through the
    same check loss as check_grad and return the gradients of the differentiable inputs."""
    opdef = get_op(case.op)
    slots = differentiable_slots(case) if grad_seed is not None else []
    if grad_seed is not None and dtype is None:
        dtype = "float64"  # as the static gradient check does
    with use_builder(EagerBuilder()) as tracer:
        assert tracer is not None
        ins: dict[str, Any] = {}
        for s in opdef.in_slots:
            if case.inputs.get(s.name) is None:
                continue
            vs = []
            for arr in _as_list(case.inputs[s.name]):
                if dtype is not None and arr.dtype.kind == "f":
                    arr = arr.astype(dtype)
                v = tracer.constant(np.array(arr))
                v.stop_gradient = s.name not in slots
                vs.append(v)
            ins[s.name] = vs if s.variadic else vs[0]
        outs: dict[str, Any] = {}
        for s in opdef.out_slots:
            alias = opdef.inplace.get(s.name)
            if alias is not None and alias in ins:
                outs[s.name] = ins[alias]
                continue
            count = 1
            if s.variadic:
                count = len(ins.get("X", [])) if isinstance(ins.get("X"), list) else 1
                count = case.attrs.get("num", count) or count
                if case.attrs.get("sections"):
                    count = len(case.attrs["sections"])
            vs = [tracer.create_var() for _ in range(count)]
            outs[s.name] = vs if s.variadic else vs[0]
        tracer.append_op(case.op, ins, outs, dict(case.attrs))
        result = {k: ([x.numpy() for x in v] if isinstance(v, list) else v.numpy()) for k, v in outs.items()}
        if grad_seed is None:
            return result, []
        wired = [
            v
            for k, vals in outs.items()
            if case.outputs is None or k in case.outputs
            for v in (vals if isinstance(vals, list) else [vals])
            if v.dtype in ("float32", "float64")
        ]
        terms = []
        for v, w in zip(wired, loss_weights(wired, grad_seed)):
            wv = tracer.constant(np.asarray(w))
            prod = tracer.create_var()
            tracer.append_op("elementwise_mul", {"X": v, "Y": wv}, {"Out": prod}, {})
            term = tracer.create_var()
            tracer.append_op("mean", {"X": prod}, {"Out": term}, {})
            if term.dtype != "float64":
                wide = tracer.create_var()
                tracer.append_op("cast", {"X": term}, {"Out": wide}, {"in_dtype": term.dtype, "out_dtype": "float64"})
                term = wide
            terms.append(term)
        loss = tracer.create_var()
        tracer.append_op("sum", {"X": terms}, {"Out": loss}, {})
        loss.backward()
        grads = []
        for s in slots:
            for v in ins[s] if isinstance(ins[s], list) else [ins[s]]:
                g = v.gradient()
                grads.append(np.zeros_like(v.value) if g is None else g)
        return result, grads
