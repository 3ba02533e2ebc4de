"""Reverse-mode autodiff as a program transformation: append_backward and gradients.

Walk the ops that lie on a differentiable path from the inputs to the targets in reverse,
and ask each op's grad maker for its grad ops through a GradContext. The inputs are the
ones `gradients` is asked about, or for `append_backward` every variable that needs a
gradient (trainable parameters, data with stop_gradient=False); a grad op's input-gradient
output is wired only for an input that leads back to one of them, so `gradients(loss, [x])`
computes `x@GRAD` and nothing for the weights on the way. A gradient with several
contributions gets them named apart (`x@GRAD@RENAME@block0@i`) and one `sum` op emitted
right before its first use; a single contribution is simply named `x@GRAD`.

Variables written more than once (in-place ops such as batch_norm with in_place=True) are
versioned: the grad of a later version is `x@GRAD@V1`, and a value a grad op needs that a
later op overwrites is saved by an `assign` inserted just before the overwrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from minigraph.errors import ArgumentTypeError, GraphBuildError
from minigraph.ir.block import Block
from minigraph.ir.operator import Operator, OpRole
from minigraph.ir.variable import Parameter, Variable
from minigraph.registry import get_op

VarKey = tuple[str, int]  # (name, version)


def _names(items: Iterable[Any] | None) -> set[str]:
    out: set[str] = set()
    for item in items or ():
        out.add(item if isinstance(item, str) else item.name)
    return out


class _Analysis:
    """Versions of every name read/written by the forward ops, and which need gradients."""

    def __init__(self, block: Block, ops: list[Operator], stop: set[str]) -> None:
        self.reads: list[dict[str, list[VarKey]]] = []
        self.writes: list[dict[str, list[VarKey]]] = []
        self.writer_of: dict[VarKey, int] = {}
        version: dict[str, int] = {}
        self.requires: set[VarKey] = set()
        for i, op in enumerate(ops):
            opdef = get_op(op.type)
            reads = {}
            for slot, names in op.inputs.items():
                keys = []
                for n in names:
                    if n not in version:
                        version[n] = 0
                        v = block.var(n)
                        if not v.stop_gradient and n not in stop:
                            self.requires.add((n, 0))
                    keys.append((n, version[n]))
                reads[slot] = keys
            differentiable = opdef.grad is not None and any(
                k in self.requires for s, ks in reads.items() if s not in opdef.no_grad_inputs for k in ks
            )
            writes = {}
            for slot, names in op.outputs.items():
                keys = []
                for n in names:
                    version[n] = version[n] + 1 if n in version else 0
                    key = (n, version[n])
                    self.writer_of[key] = i
                    if differentiable and not block.var(n).stop_gradient and n not in stop:
                        self.requires.add(key)
                    keys.append(key)
                writes[slot] = keys
            self.reads.append(reads)
            self.writes.append(writes)
        self.latest = version


class _StaticGradContext:
    """What a grad maker sees for one forward op when building a static program."""

    def __init__(self, bw: _Backward, idx: int, op: Operator) -> None:
        self.bw, self.idx, self.op = bw, idx, op
        self.opdef = get_op(op.type)
        self._in_grads: dict[str, Any] = {}

    # forward values -------------------------------------------------------------------
    def _value(self, key: VarKey) -> str:
        return self.bw.readable(key)

    def _slot_value(self, keys: list[VarKey], slot: str, variadic: bool) -> Any:
        names = [self._value(k) for k in keys]
        return names if variadic else (names[0] if names else None)

    def _variadic(self, slots: Any, slot: str) -> bool:
        return any(s.name == slot and s.variadic for s in slots)

    def input(self, slot: str) -> Any:
        return self._slot_value(
            self.bw.an.reads[self.idx].get(slot, []), slot, self._variadic(self.opdef.in_slots, slot)
        )

    def output(self, slot: str) -> Any:
        return self._slot_value(
            self.bw.an.writes[self.idx].get(slot, []), slot, self._variadic(self.opdef.out_slots, slot)
        )

    def var(self, name: str) -> Variable:
        return self.bw.block.var(name)

    def attr(self, name: str) -> Any:
        return self.op.attrs[name]

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.op.attrs)

    # gradients -------------------------------------------------------------------------
    def out_grad(self, slot: str) -> Any:
        keys = self.bw.an.writes[self.idx].get(slot, [])
        grads = [self.bw.grad_or_zeros(k) for k in keys]
        return grads if self._variadic(self.opdef.out_slots, slot) else (grads[0] if grads else None)

    def has_out_grad(self, slot: str) -> bool:
        return any(self.bw.has_grad(k) for k in self.bw.an.writes[self.idx].get(slot, []))

    def in_grad(self, slot: str) -> Any:
        if slot not in self._in_grads:
            keys = self.bw.an.reads[self.idx].get(slot, [])
            names = [self.bw.new_contribution(k) if self.bw.wants_grad(k) else None for k in keys]
            self._in_grads[slot] = names if self._variadic(self.opdef.in_slots, slot) else (names[0] if names else None)
        return self._in_grads[slot]

    def emit(self, type: str, attrs: dict[str, Any] | None = None, **slots: Any) -> Operator:
        return self.bw.emit(type, attrs or {}, slots)


class _Backward:
    def __init__(self, block: Block, targets: Sequence[Variable], inputs: set[str] | None, no_grad: set[str]) -> None:
        self.block = block
        self.fwd_ops = list(block.ops)
        stop = set(no_grad)
        self.an = _Analysis(block, self.fwd_ops, stop)
        self.targets = targets
        self.contribs: dict[VarKey, list[str]] = {}  # partial gradients, named apart
        self.rename_count: dict[str, int] = {}
        self.final: dict[VarKey, str | None] = {}
        self.saves: dict[VarKey, str] = {}
        self.relevant = self._relevant_ops(inputs)

    # --- which ops matter -----------------------------------------------------------------
    def _relevant_ops(self, inputs: set[str] | None) -> list[int]:
        """The forward ops on a differentiable path from `inputs` (None: every variable
        needing a gradient) to the targets, last first. Sets `self.from_inputs` (values
        that depend on the inputs) and `self.reachable` (values the targets depend on): a
        gradient is built for exactly the values in both."""
        self.from_inputs = self.an.requires if inputs is None else self._downstream_of(inputs)
        needed: set[VarKey] = set()
        for t in self.targets:
            needed.add((t.name, self.an.latest.get(t.name, 0)))
        chosen = []
        for i in range(len(self.fwd_ops) - 1, -1, -1):
            writes = [k for ks in self.an.writes[i].values() for k in ks]
            if not any(k in needed for k in writes):
                continue
            ins = [k for k in self._differentiable_reads(i) if k in self.from_inputs]
            if not ins:
                continue
            chosen.append(i)
            needed.update(ins)
        self.reachable = needed
        return chosen

    def _differentiable_reads(self, i: int) -> list[VarKey]:
        """The values op #i reads through slots it has a gradient for (none if it has no grad)."""
        opdef = get_op(self.fwd_ops[i].type)
        if opdef.grad is None:
            return []
        return [k for s, ks in self.an.reads[i].items() if s not in opdef.no_grad_inputs for k in ks]

    def _downstream_of(self, inputs: set[str]) -> set[VarKey]:
        """The values needing a gradient that depend on one of `inputs` (their first versions)."""
        keys = {(n, 0) for n in inputs} & self.an.requires
        for i in range(len(self.fwd_ops)):
            if any(k in keys for k in self._differentiable_reads(i)):
                keys.update(k for ks in self.an.writes[i].values() for k in ks if k in self.an.requires)
        return keys

    def wants_grad(self, key: VarKey) -> bool:
        return key in self.from_inputs and key in self.reachable

    # --- names and values -----------------------------------------------------------------
    def grad_name(self, key: VarKey) -> str:
        name, ver = key
        base = f"{name}@GRAD" if ver == 0 else f"{name}@GRAD@V{ver}"
        if self.block._find_var_recursive(base) is None:
            return base
        k = 1
        while self.block._find_var_recursive(f"{base}_{k}") is not None:
            k += 1
        return f"{base}_{k}"

    def readable(self, key: VarKey) -> str:
        """The name under which a grad op can read forward value `key`."""
        name, ver = key
        if ver == self.an.latest.get(name, 0):
            return name
        if key not in self.saves:
            saved = f"{name}@SAVED@V{ver}"
            src = self.block.var(name)
            self.block.create_var(saved, src.shape, src.dtype, stop_gradient=True)
            self.saves[key] = saved
        return self.saves[key]

    def new_contribution(self, key: VarKey) -> str:
        name = key[0]
        k = self.rename_count.get(name, 0)
        self.rename_count[name] = k + 1
        tmp = f"{name}@GRAD@RENAME@block{self.block.idx}@{k}"
        self.contribs.setdefault(key, []).append(tmp)
        return tmp

    def has_grad(self, key: VarKey) -> bool:
        return bool(self.final.get(key)) or bool(self.contribs.get(key))

    def finalize(self, key: VarKey) -> str | None:
        if key in self.final:
            return self.final[key]
        cs = self.contribs.pop(key, [])
        if not cs:
            self.final[key] = None
            return None
        gname = self.grad_name(key)
        if len(cs) == 1:
            self._rename_output(cs[0], gname)
        else:
            self.emit("sum", {}, {"X": cs, "Out": gname})
        self.final[key] = gname
        return gname

    def grad_or_zeros(self, key: VarKey) -> str:
        g = self.finalize(key)
        if g is None:
            g = self.grad_name(key)
            self.emit("fill_zeros_like", {}, {"X": self.readable(key), "Out": g})
            self.final[key] = g
        return g

    def _rename_output(self, old: str, new: str) -> None:
        for op in reversed(self.block.ops):
            if old in op.output_arg_names:
                self.block._rename_var(old, new)
                op._rename_output(old, new)
                return
        raise AssertionError(f"no op writes {old}")

    def emit(self, type: str, attrs: dict[str, Any], slots: dict[str, Any]) -> Operator:
        opdef = get_op(type)
        in_names = {s.name for s in opdef.in_slots}
        inputs, outputs = {}, {}
        for slot, value in slots.items():
            if value is None:
                continue
            if slot in in_names:
                inputs[slot] = value
            else:
                if isinstance(value, list):  # a list output with holes: fill with throwaways
                    value = [v if v is not None else self.block.program.names.generate(f"{type}@UNUSED") for v in value]
                outputs[slot] = value
        # Grad makers may pass the forward op's attrs wholesale; keep the ones this op has.
        attrs = {k: v for k, v in attrs.items() if k in opdef.attrs}
        return self.block.append_op(type, inputs, outputs, attrs, role=OpRole.BACKWARD)

    # --- the walk ---------------------------------------------------------------------------
    def run(self, seeds: dict[str, str | None]) -> dict[str, str]:
        for t in self.targets:
            key = (t.name, self.an.latest.get(t.name, 0))
            given = seeds.get(t.name)
            if given is not None:
                self.final[key] = given
            else:
                gname = self.grad_name(key)
                if all(d >= 0 for d in t.shape):
                    self.block.append_op(
                        "fill_constant",
                        {},
                        {"Out": gname},
                        {"shape": list(t.shape), "dtype": t.dtype, "value": 1.0},
                        role=OpRole.BACKWARD | OpRole.LOSS,
                    )
                else:
                    self.block.append_op(
                        "fill_any_like",
                        {"X": t.name},
                        {"Out": gname},
                        {"value": 1.0},
                        role=OpRole.BACKWARD | OpRole.LOSS,
                    )
                self.final[key] = gname
        for i in self.relevant:
            op = self.fwd_ops[i]
            grad_maker = get_op(op.type).grad
            assert grad_maker is not None  # _relevant_ops chose only ops with a gradient
            grad_maker(_StaticGradContext(self, i, op))
        for key in list(self.contribs):
            self.finalize(key)
        self._insert_saves()
        return {k[0]: g for k, g in self.final.items() if g is not None and k[1] == 0}

    def _insert_saves(self) -> None:
        """Insert `assign(x) -> x@SAVED@Vk` right before the op that overwrites version k."""
        inserts = []
        for (name, ver), saved in self.saves.items():
            writer = self.an.writer_of[(name, ver + 1)]
            inserts.append((writer, name, saved))
        for writer, name, saved in sorted(inserts, reverse=True):
            index = self.block.ops.index(self.fwd_ops[writer])
            self.block._insert_op(index, "assign", {"X": name}, {"Out": saved}, role=OpRole.BACKWARD)


def append_backward(
    loss: Variable,
    parameter_list: Sequence[Any] | None = None,
    no_grad_set: Iterable[Any] | None = None,
    callbacks: Any = None,
) -> list[tuple[Parameter, Variable]]:
    """Append the gradient ops of `loss` to its program; returns [(param, grad)] in
    parameter creation order for the trainable parameters that get a gradient. Gradients
    are built for every variable that needs one (`parameter_list` only filters the pairs
    returned). `callbacks` is accepted for Paddle compatibility and ignored.

        params_grads = mg.append_backward(loss)
    """
    if not isinstance(loss, Variable):
        raise ArgumentTypeError(f"append_backward expects the loss Variable, got {type(loss).__name__}")
    block = loss.block.program.global_block()
    producers = [op for op in block.ops if loss.name in op.output_arg_names]
    if not producers:
        raise GraphBuildError(f"append_backward: no op in the program computes the loss {loss.name!r}")
    producers[-1].role |= OpRole.LOSS
    no_grad = _names(no_grad_set)
    grads = _Backward(block, [loss], None, no_grad).run({})
    wanted = _names(parameter_list) if parameter_list is not None else None
    pairs = []
    for p in loss.block.program.all_parameters():
        if not p.trainable or p.name not in grads or p.name in no_grad:
            continue
        if wanted is not None and p.name not in wanted:
            continue
        pairs.append((p, block.var(grads[p.name])))
    return pairs


def gradients(
    targets: Any, inputs: Any, target_gradients: Any = None, no_grad_set: Iterable[Any] | None = None
) -> list[Variable | None]:
    """Gradients of the sum of `targets` with respect to each of `inputs` (None where an
    input does not reach a target or has stop_gradient=True). Only the gradient ops these
    inputs need are appended: no parameter gradients on the way.

        (x_grad,) = mg.gradients([loss], [x])
    """
    targets = list(targets) if isinstance(targets, (list, tuple)) else [targets]
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    tgrads = (
        list(target_gradients)
        if isinstance(target_gradients, (list, tuple))
        else ([target_gradients] * len(targets) if target_gradients is not None else [None] * len(targets))
    )
    if len(tgrads) != len(targets):
        raise GraphBuildError("gradients: target_gradients must match targets in length")
    block = targets[0].block.program.global_block()
    seeds = {t.name: (g.name if isinstance(g, Variable) else g) for t, g in zip(targets, tgrads)}
    bw = _Backward(block, targets, _names(inputs), _names(no_grad_set))
    for t in targets:  # gradients() seeds with fill_any_like, as Paddle does
        if seeds[t.name] is None:
            gname = bw.grad_name((t.name, bw.an.latest.get(t.name, 0)))
            block.append_op("fill_any_like", {"X": t.name}, {"Out": gname}, {"value": 1.0}, role=OpRole.BACKWARD)
            seeds[t.name] = gname
    grads = bw.run(seeds)
    return [block.var(grads[v.name]) if v.name in grads else None for v in inputs]
