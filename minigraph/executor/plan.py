"""Plan: a program compiled for one (feed names, fetch names) pair.

Compilation has two halves. Analysis (minigraph/executor/analysis.py) numbers the
variables, checks first reads and finds where each temporary dies. Lowering (here) resolves
each op's kernel and attrs once into a step of a flat loop. Running is then a tight loop:
call, store outputs, free dead values. Kernels never mutate their inputs, so a run that
fails part-way leaves the scope exactly as it was: persistables are written back only after
every op has succeeded.

Two things make the loop cheap in memory traffic. Ops with optional outputs are told which
outputs are wired (attrs[registry.WIRED]), so a kernel can skip gradients nobody reads.
Dead values that may be large (and the persistable values a run replaces) are handed to a
`BufferPool` (minigraph/ops/buffers.py), which keeps an array only when nothing else
references its memory; kernels take their output buffers from it, so repeated runs stop
allocating. Each concurrent run takes its own pool from `self._pools`.

check_nan_inf runs the same loop over steps whose calls check their outputs: the plain
steps carry no check, so the option costs nothing when off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigraph.errors import (
    ExecutionError,
    FeedError,
    MinigraphError,
    NonFiniteError,
    UninitializedVariableError,
)
from minigraph.executor.analysis import Analysis, analyse
from minigraph.executor.feed_values import convert_feed
from minigraph.ir.operator import Operator
from minigraph.ir.program import Program
from minigraph.ir.text import op_line
from minigraph.ir.variable import Variable
from minigraph.ops import buffers, team
from minigraph.registry import WIRED, get_op, op_seed
from minigraph.types import shape_text

# (kernel call, output slot(s), slots to clear after it, slots to hand to the buffer pool after it)
Step = tuple[Callable[[list[Any]], Sequence[Any]], "int | tuple[int, ...]", tuple[int, ...], tuple[int, ...]]


def _slots(outs: Any) -> int | tuple[int, ...]:
    t = tuple(outs)
    return t[0] if len(t) == 1 else t


def _make_call(kernel: Callable[..., Any], attrs: dict[str, Any], ins: list[Any]) -> Callable[[list[Any]], Any]:
    """A closure reading the op's inputs out of the environment; specialised for speed."""
    if all(isinstance(i, int) for i in ins):
        if len(ins) == 0:
            return lambda env: kernel(attrs)
        if len(ins) == 1:
            (a,) = ins
            return lambda env: kernel(attrs, env[a])
        if len(ins) == 2:
            a, b = ins
            return lambda env: kernel(attrs, env[a], env[b])
        if len(ins) == 3:
            a, b, c = ins
            return lambda env: kernel(attrs, env[a], env[b], env[c])
        idx = tuple(ins)
        return lambda env: kernel(attrs, *[env[i] for i in idx])

    def gather(env: list[Any]) -> Any:
        args = [None if i is None else [env[j] for j in i] if isinstance(i, list) else env[i] for i in ins]
        return kernel(attrs, *args)

    return gather


# Read-only zero-stride arrays by (shape, dtype): stand-ins are shared, as making one with
# np.broadcast_to costs more than the add it follows.
_STAND_INS: dict[tuple[Any, ...], np.ndarray] = {}


def _stand_in(value: Any) -> Any:
    """What a shape-only reader gets once `value` is freed: its shape and dtype, no memory."""
    if value.__class__ is not np.ndarray:
        return value
    key = (value.shape, value.dtype)
    known = _STAND_INS.get(key)
    if known is None:
        known = np.broadcast_to(np.zeros((), value.dtype), value.shape)
        if len(_STAND_INS) < 256:
            _STAND_INS[key] = known
    return known


def _donating(call: Callable[[list[Any]], Any], i: int, keep_shape: bool) -> Callable[[list[Any]], Any]:
    """`call` for an op whose output may take the buffer of input slot `i`, which dies at
    this op: its array is offered to the buffer pool before the kernel runs (buffers.donate
    refuses a fed array, a scope value or anything else still referenced). Afterwards the
    slot holds nothing, or with `keep_shape` a stand-in for later shape-only readers."""

    def donating(env: list[Any]) -> Any:
        value = env[i]
        env[i] = None
        buffers.donate(value)
        env[i] = value  # the kernel reads it from the slot
        try:
            return call(env)
        finally:
            env[i] = _stand_in(value) if keep_shape else None

    return donating


def _leaving_shapes(call: Callable[[list[Any]], Any], slots: tuple[int, ...]) -> Callable[[list[Any]], Any]:
    """`call`, then each of `slots` (values dying here whose shape later ops still read)
    replaced by a stand-in, its array given to the buffer pool."""

    def leaving(env: list[Any]) -> Any:
        out = call(env)
        for i in slots:
            value = env[i]
            env[i] = _stand_in(value)
            buffers.donate(value)
        return out

    return leaving


def _flatten_outputs(call: Callable[[list[Any]], Any], variadic: list[bool]) -> Callable[[list[Any]], Any]:
    def flat(env: list[Any]) -> list[Any]:
        out: list[Any] = []
        for is_list, value in zip(variadic, call(env)):
            if is_list:
                out.extend(value)
            else:
                out.append(value)
        return out

    return flat


def _lower(op: Operator, k: int, an: Analysis, random_seed: int) -> tuple[Any, Any]:
    """Op #k as (a call reading its inputs from the environment, its output slot(s))."""
    opdef = get_op(op.type)
    index = an.index
    ins: list[Any] = []
    for s in opdef.in_slots:
        names = op.inputs.get(s.name, ())
        if s.variadic:
            ins.append([index[n] for n in names])
        else:
            ins.append(index[names[0]] if names else None)
    trash = len(index)
    outs: list[int] = []
    variadic: list[bool] = []
    for s in opdef.out_slots:
        names = op.outputs.get(s.name, ())
        variadic.append(s.variadic)
        if s.variadic:
            outs.extend(index[n] for n in names)
        else:
            outs.append(index[names[0]] if names else trash)
    attrs = dict(op.attrs)
    if an.wired[k] is not None:
        attrs[WIRED] = an.wired[k]
    if attrs.get("seed") == 0 and random_seed:
        attrs["seed"] = op_seed(random_seed, k + 1)  # positions count from 1, as on the eager tape
    call = _make_call(opdef.kernel, attrs, ins)
    shapes = an.shape_after[k]
    donor = index.get(op.inputs.get(opdef.out_may_reuse, ("",))[0]) if opdef.out_may_reuse else None
    if donor is not None and (donor in an.drop_after[k] or donor in shapes) and ins.count(donor) == 1:
        call = _donating(call, donor, donor in shapes)
        shapes = tuple(i for i in shapes if i != donor)
    if shapes:
        call = _leaving_shapes(call, shapes)
    if any(variadic):
        call = _flatten_outputs(call, variadic)
    # A single output slot is stored as a plain int: the loop skips zip() for it.
    return call, _slots(outs)


def _checking(call: Callable[[list[Any]], Any], op: Operator, index: dict[str, int]) -> Callable[[list[Any]], Any]:
    """`call` followed by a NaN/Inf check of every float output of `op`."""
    in_slots = [(n, index[n]) for n in op.input_arg_names]
    out_names = [(slot, n) for slot, names in op.outputs.items() for n in names]
    call_outputs = _output_names(op)

    def checked(env: list[Any]) -> Any:
        inputs = [(n, env[i]) for n, i in in_slots]  # before the call: an output may reuse a slot
        values = call(env)
        by_name = dict(zip(call_outputs, values))
        for slot, name in out_names:
            _check_finite(op, slot, name, by_name.get(name), inputs)
        return values

    return checked


def _output_names(op: Operator) -> list[str | None]:
    """The names the lowered call's outputs go to, in order (None for an unwired slot)."""
    names: list[str | None] = []
    for s in get_op(op.type).out_slots:
        given = op.outputs.get(s.name, ())
        if s.variadic:
            names.extend(given)
        else:
            names.append(given[0] if given else None)
    return names


def _check_finite(op: Operator, slot: str, name: str, value: Any, inputs: list[tuple[str, Any]]) -> None:
    if not _is_float_array(value) or np.isfinite(value).all():
        return
    kinds = " and ".join(k for k, bad in (("NaN", np.isnan(value).any()), ("Inf", np.isinf(value).any())) if bad)
    culprit = next((n for n, v in inputs if _is_float_array(v) and not np.isfinite(v).all()), None)
    source = (
        f"input {culprit!r} already carried non-finite values"
        if culprit is not None
        else "all its inputs were finite, so this op produced them"
    )
    count = int((~np.isfinite(value)).sum())
    raise NonFiniteError(
        f"check_nan_inf: output {slot}={name!r} contains {kinds} ({count} of {value.size} values); {source}"
    )


class Plan:
    """`program` compiled for (feed_names, fetch_names). `runs` is the program the steps
    come from when it differs from `program` (the BuildStrategy's rewritten copy)."""

    def __init__(
        self, program: Program, feed_names: Sequence[str], fetch_names: Sequence[str], runs: Program | None = None
    ) -> None:
        self.program = program
        self.compiled = program if runs is None else runs
        program = self.compiled
        block = program.global_block()
        an = analyse(block, feed_names, fetch_names)
        self.ops = list(block.ops)
        self.index = an.index
        self.persist_in = an.persist_in
        self.persist_out = an.persist_out
        self.fetch_idx = an.fetch_idx
        self.n_slots = len(an.index) + 1  # the last slot swallows unwired outputs
        self.steps: list[Step] = [
            (*_lower(op, k, an, program.random_seed), an.free_after[k], an.drop_after[k])
            for k, op in enumerate(self.ops)
        ]
        # The same steps with a NaN/Inf check in each call, per set of op types not checked.
        self._checked_steps: dict[frozenset[str], list[Step]] = {}
        # Dead buffers recycled from run to run; one pool per concurrent run.
        self._pools: list[buffers.BufferPool] = []
        self.feed_vars = {n: block.var(n) for n in feed_names}
        self.feed_idx = {n: an.index[n] for n in feed_names}
        # Whether a kernel may ask for worker threads (ops/team.py): runs of such programs
        # let their kernels borrow the team.
        self._splits_work = any(get_op(op.type).splits_work for op in self.ops)
        self._borrowed = False  # whether the last run's kernels borrowed the team

    def check_feed(self, name: str, value: Any) -> np.ndarray:
        v: Variable = self.feed_vars[name]
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as e:
            raise FeedError(f"feed {name!r}: cannot convert the value to an array ({e})") from None
        if arr.dtype.kind in "OUSV":
            raise FeedError(f"feed {name!r}: expected numbers of dtype {v.dtype}, got {arr.dtype}")
        arr = convert_feed(name, arr, v.dtype, v.persistable)
        if v.is_data or not v.persistable:
            if arr.ndim != len(v.shape):
                raise FeedError(
                    f"feed {name!r}: expected rank {len(v.shape)} (shape {shape_text(v.shape)}), "
                    f"got shape {shape_text(arr.shape)}"
                )
            for axis, (want, got) in enumerate(zip(v.shape, arr.shape)):
                if want >= 0 and want != got:
                    raise FeedError(
                        f"feed {name!r}: dimension {axis} must be {want} (shape "
                        f"{shape_text(v.shape)}), got shape {shape_text(arr.shape)}"
                    )
        elif tuple(arr.shape) != tuple(v.shape) and -1 not in v.shape:
            raise FeedError(
                f"feed {name!r}: persistable variable has shape {shape_text(v.shape)}, got {shape_text(arr.shape)}"
            )
        return arr

    def run(
        self, scope: Any, feeds: dict[str, np.ndarray], nan_check: frozenset[str] | None = None
    ) -> list[np.ndarray]:
        """Run every op once. `nan_check` (op types to skip) turns on the NaN/Inf check."""
        env: list[Any] = [None] * self.n_slots
        for name, i in self.persist_in:
            value = scope._get_value(name)
            if value is None:
                raise UninitializedVariableError(
                    f"persistable variable {name!r} has no value in the scope; run the startup program "
                    f"(exe.run(startup_program)) or load a checkpoint before running this program"
                )
            env[i] = value
        for name, arr in feeds.items():
            if nan_check is not None and _is_float_array(arr) and not np.isfinite(arr).all():
                raise NonFiniteError(f"check_nan_inf: feed {name!r} contains NaN or Inf")
            env[self.feed_idx[name]] = arr
        pools = self._pools
        pool = pools.pop() if pools else buffers.BufferPool()
        token = buffers.activate(pool)
        lent = team.open_run(self._borrowed) if self._splits_work else None
        try:
            self._loop(env, pool, nan_check)
            old: list[Any] = [None]
            swap = scope._swap_value
            for name, i in self.persist_out:
                old[0] = swap(name, env[i])
                pool.release(old, 0)  # the replaced value, unless someone still holds it
            return [env[i] for i in self.fetch_idx]
        finally:
            self._borrowed = lent is not None and lent.held
            team.close_run(lent)
            buffers.deactivate(token)
            pool.end_run()
            pools.append(pool)

    def _loop(self, env: list[Any], pool: buffers.BufferPool, nan_check: frozenset[str] | None) -> None:
        release = pool.release
        steps = self.steps if nan_check is None else self._steps_checking(nan_check)
        k = 0
        try:
            for k, (call, outs, free, drop) in enumerate(steps):  # noqa: B007  (k names the failing op)
                if outs.__class__ is int:
                    env[outs] = call(env)[0]
                else:
                    for i, value in zip(outs, call(env)):
                        env[i] = value
                for i in free:
                    env[i] = None
                for i in drop:
                    release(env, i)
        except MinigraphError as e:
            raise type(e)(self._where(k) + str(e)) from e
        except Exception as e:
            raise ExecutionError(self._where(k) + f"{type(e).__name__}: {e}") from e

    def _steps_checking(self, skip: frozenset[str]) -> list[Step]:
        """The steps with a NaN/Inf check in the call of every op whose type is not in `skip`."""
        steps = self._checked_steps.get(skip)
        if steps is None:
            steps = [
                step if op.type in skip else (_checking(step[0], op, self.index), *step[1:])
                for op, step in zip(self.ops, self.steps)
            ]
            self._checked_steps[skip] = steps
        return steps

    def _where(self, k: int) -> str:
        op = self.ops[k]
        site = f"\n  built at {op.callsite}" if op.callsite else ""
        return f"op #{k} failed: {op_line(op)}{site}\n  "


def _is_float_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"
