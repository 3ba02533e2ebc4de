"""Plan: a program compiled for one (feed names, fetch names) pair.

Compilation resolves each op's kernel and attrs once, maps variable names to indices in a
flat list, and computes where each temporary dies so it can be dropped right away. Running
is then a tight loop: call, store outputs, free dead values. Kernels never mutate their
inputs, so a run that fails part-way leaves the scope exactly as it was: persistables are
written back only after every op has succeeded.

Two things make the loop cheap in memory traffic. Ops with optional outputs are told which
outputs are wired (attrs[registry.WIRED]), so a kernel can skip gradients nobody reads.
Dead values that may be large (and the persistable values a run replaces) are handed to a
`BufferPool` (minigraph/ops/buffers.py), which keeps an array only when nothing else
references its memory; kernels take their output buffers from it, so repeated runs stop
allocating. Each concurrent run takes its own pool from `self._pools`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigraph.errors import (
    ExecutionError,
    FeedError,
    FetchError,
    MinigraphError,
    NonFiniteError,
    UninitializedVariableError,
)
from minigraph.ir.program import Program
from minigraph.ir.text import op_line
from minigraph.ir.variable import Variable
from minigraph.ops import buffers
from minigraph.registry import WIRED, get_op
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


class Plan:
    def __init__(self, program: Program, feed_names: Sequence[str], fetch_names: Sequence[str]) -> None:
        block = program.global_block()
        self.program = program
        index: dict[str, int] = {}

        def slot(name: str) -> int:
            if name not in index:
                index[name] = len(index)
            return index[name]

        feed_set = set(feed_names)
        for name in feed_names:
            slot(name)
        written: set[str] = set(feed_set)
        self.persist_in: list[tuple[str, int]] = []
        persist_out: dict[str, int] = {n: index[n] for n in feed_names if block.var(n).persistable}
        last_use: dict[str, int] = {}
        self.ops = list(block.ops)
        raw_steps = []
        for k, op in enumerate(self.ops):
            opdef = get_op(op.type)
            ins: list[Any] = []
            for s in opdef.in_slots:
                names = op.inputs.get(s.name, [])
                for n in names:
                    if n not in written:
                        self._first_read(block, n, k, op, feed_set)
                        written.add(n)
                        if block.var(n).persistable:
                            self.persist_in.append((n, slot(n)))
                    last_use[n] = k
                if s.variadic:
                    ins.append([slot(n) for n in names])
                else:
                    ins.append(slot(names[0]) if names else None)
            outs: list[int] = []
            variadic: list[bool] = []
            for s in opdef.out_slots:
                names = op.outputs.get(s.name, [])
                variadic.append(s.variadic)
                if s.variadic:
                    outs.extend(slot(n) for n in names)
                else:
                    outs.append(slot(names[0]) if names else -1)
                for n in names:
                    written.add(n)
                    last_use[n] = k
                    if block.var(n).persistable:
                        persist_out[n] = index[n]
            attrs = dict(op.attrs)
            if opdef.optional_outputs:
                attrs[WIRED] = tuple(bool(op.outputs.get(s.name)) for s in opdef.out_slots)
            if attrs.get("seed") == 0 and program.random_seed:
                # A distinct, reproducible stream per op: equal-shaped parameters must differ.
                attrs["seed"] = (program.random_seed * 1_000_003 + k + 1) % (2**31 - 1) or 1
            call = _make_call(opdef.kernel, attrs, ins)
            if any(variadic):
                call = _flatten_outputs(call, variadic)
            raw_steps.append((call, outs))
        self.fetch_idx: list[int] = []
        for name in fetch_names:
            if name not in written:
                self._first_read(block, name, len(self.ops), None, feed_set)
                written.add(name)
                if block.var(name).persistable:
                    self.persist_in.append((name, slot(name)))
            self.fetch_idx.append(index[name])
        self.persist_out = list(persist_out.items())
        self.n_slots = len(index) + 1  # the last slot swallows unwired outputs
        trash = len(index)
        keep = {n for n, _ in self.persist_out} | set(fetch_names)
        free_after: list[list[int]] = [[] for _ in self.ops]
        drop_after: list[list[int]] = [[] for _ in self.ops]
        for name, k in last_use.items():
            v = block.var(name)
            if name not in keep and not v.persistable:
                (drop_after if _may_be_big(v) else free_after)[k].append(index[name])
        # A single output slot is stored as a plain int: the loop skips zip() for it.
        self.steps: list[Step] = [
            (call, _slots(trash if o < 0 else o for o in outs), tuple(free_after[k]), tuple(drop_after[k]))
            for k, (call, outs) in enumerate(raw_steps)
        ]
        # Dead buffers recycled from run to run; one pool per concurrent run.
        self._pools: list[buffers.BufferPool] = []
        self.index = index
        self.feed_vars = {n: block.var(n) for n in feed_names}
        self.feed_idx = {n: index[n] for n in feed_names}

    def _first_read(self, block: Any, name: str, k: int, op: Any, feeds: set[str]) -> None:
        """A variable read before any op writes it must be persistable (from the scope) or fed."""
        if block._find_var_recursive(name) is None:
            close = difflib.get_close_matches(name, block.vars, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise FetchError(f"cannot fetch {name!r}: it is not a variable of the program being run{hint}")
        v = block.var(name)
        if v.persistable or name in feeds:
            return
        who = f"op {op.type} (#{k}) reads it" if op is not None else "it is fetched"
        if v.is_data:
            raise FeedError(f"variable {name!r} is not fed, but {who}; pass feed={{{name!r}: array}}")
        raise FeedError(
            f"variable {name!r} has no value: nothing writes it before {who}, and it is neither fed nor persistable"
        )

    def check_feed(self, name: str, value: Any) -> np.ndarray:
        v: Variable = self.feed_vars[name]
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as e:
            raise FeedError(f"feed {name!r}: cannot convert the value to an array ({e})") from None
        if arr.dtype.kind in "OUSV":
            raise FeedError(f"feed {name!r}: expected numbers of dtype {v.dtype}, got {arr.dtype}")
        if arr.dtype != v.dtype:
            if not np.can_cast(arr.dtype, v.dtype, casting="same_kind"):
                raise FeedError(
                    f"feed {name!r}: dtype {arr.dtype} cannot be cast to the variable's "
                    f"dtype {v.dtype} (numpy 'same_kind' rule)"
                )
            arr = arr.astype(v.dtype)
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
        try:
            self._loop(env, pool, nan_check)
            old: list[Any] = [None]
            for name, i in self.persist_out:
                old[0] = scope._get_value(name)
                scope._set_value(name, env[i])
                pool.release(old, 0)  # the replaced value, unless someone still holds it
            return [env[i] for i in self.fetch_idx]
        finally:
            buffers.deactivate(token)
            pool.end_run()
            pools.append(pool)

    def _loop(self, env: list[Any], pool: buffers.BufferPool, nan_check: frozenset[str] | None) -> None:
        release = pool.release
        k = 0
        try:
            if nan_check is None:
                for k, (call, outs, free, drop) in enumerate(self.steps):  # noqa: B007  (k names the failing op)
                    if outs.__class__ is int:
                        env[outs] = call(env)[0]
                    else:
                        for i, value in zip(outs, call(env)):
                            env[i] = value
                    for i in free:
                        env[i] = None
                    for i in drop:
                        release(env, i)
            else:
                for k, (call, outs, free, drop) in enumerate(self.steps):  # noqa: B007
                    op = self.ops[k]
                    inputs = [(n, env[self.index[n]]) for n in op.input_arg_names]
                    for i, value in zip((outs,) if outs.__class__ is int else outs, call(env)):
                        env[i] = value
                    if op.type not in nan_check:
                        self._check_finite(op, inputs, env)
                    inputs.clear()
                    for i in free:
                        env[i] = None
                    for i in drop:
                        release(env, i)
        except MinigraphError as e:
            raise type(e)(self._where(k) + str(e)) from e
        except Exception as e:
            raise ExecutionError(self._where(k) + f"{type(e).__name__}: {e}") from e

    def _check_finite(self, op: Any, inputs: list[tuple[str, Any]], env: list[Any]) -> None:
        for slot, names in op.outputs.items():
            for name in names:
                value = env[self.index[name]]
                if not _is_float_array(value) or np.isfinite(value).all():
                    continue
                kinds = " and ".join(
                    k for k, bad in (("NaN", np.isnan(value).any()), ("Inf", np.isinf(value).any())) if bad
                )
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

    def _where(self, k: int) -> str:
        op = self.ops[k]
        site = f"\n  built at {op.callsite}" if op.callsite else ""
        return f"op #{k} failed: {op_line(op)}{site}\n  "


def _may_be_big(v: Variable) -> bool:
    """Whether a variable's value may be large enough for the buffer pool (unknown dims count
    as large)."""
    if any(d < 0 for d in v.shape):
        return True
    try:
        itemsize = np.dtype(v.dtype).itemsize
    except TypeError:
        return False
    return int(np.prod(v.shape, dtype=np.int64)) * itemsize >= buffers.MIN_BYTES


def _is_float_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"
