"""Executor: validates feeds, compiles programs into cached Plans, runs them in a Scope."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

import numpy as np

from minigraph.errors import ArgumentTypeError, FeedError, InvalidArgumentError
from minigraph.executor.compiled import CompiledProgram
from minigraph.executor.plan import Plan
from minigraph.executor.scope import Scope, global_scope, scope_lock
from minigraph.ir.framework import default_main_program
from minigraph.ir.program import Program
from minigraph.ir.variable import Variable
from minigraph.passes.strategy import BuildStrategy, apply_build_strategy

_CACHE_SIZE = 64
# Bytes the buffer pools of the cached plans may keep between runs, the most recently run
# plan aside (its pool is what makes the next step cheap, whatever its size).
POOL_BYTES_LIMIT = 256 << 20


def _name_of(item: Any, what: str) -> str:
    if isinstance(item, str):
        return item
    name = getattr(item, "name", None)
    if isinstance(name, str):
        return name
    raise ArgumentTypeError(f"Executor.run: {what} must be variable names or Variables, got {item!r}")


def _feed_key(item: Any, program: Program) -> str:
    """A feed key's variable name. A Variable must come from `program` or from a program of
    its family (a clone, or what it was cloned from): feeding a Variable of an unrelated
    program would silently feed whichever variable of this one happens to share its name."""
    name = _name_of(item, "feed keys")
    if isinstance(item, Variable):
        other = item.block.program
        if other is not program and other._lineage != program._lineage:
            raise FeedError(
                f"feed key {name!r} is a Variable of another program ({_describe(other)}) than the one being "
                f"run ({_describe(program)}); key the feed by the name {name!r} to feed this program's variable"
            )
    return name


def _describe(program: Program) -> str:
    return f"program #{program._uid}: {len(program.global_block().ops)} ops, {len(program.global_block().vars)} vars"


class CPUPlace:
    """The only place minigraph runs on; accepted for Paddle compatibility."""

    def __repr__(self) -> str:
        return "CPUPlace"


class Executor:
    """Runs programs. Compiled plans are cached per (program, version, feeds, fetches,
    build strategy). Compiling runs the BuildStrategy's passes over a copy of the program
    (minigraph.passes.strategy); the plan's `program` is that copy.

    The cache holds plans weakly: a plan lives as long as its Program (the program keeps
    it), so a program the caller drops (a fresh `clone(for_test=True)` per evaluation)
    takes its plans and their buffers with it. At most 64 plans are cached (least recently
    used go first, and a program's plans for older versions go as soon as it changes), and
    the buffer pools of all cached plans but the last one run keep at most
    `pool_bytes_limit` bytes (default 256 MiB; least recently used pools are emptied
    first). `close()` drops every plan and buffer.

    Runs on one Scope are serialised by a lock on the scope (its root, for child scopes):
    two threads sharing a scope take turns, so no update is lost; runs on different scopes
    run in parallel.
    """

    def __init__(
        self,
        place: Any = None,
        check_nan_inf: bool = False,
        nan_inf_skip_ops: Any = (),
        pool_bytes_limit: int = POOL_BYTES_LIMIT,
    ) -> None:
        """`check_nan_inf=True` checks every float output of every op (optimizer updates and
        batch_norm statistics included) and raises at the first NaN/Inf, naming the op, the
        output and the first input that already carried one; ops in `nan_inf_skip_ops` are
        not checked. Off by default, at no cost."""
        if not isinstance(pool_bytes_limit, int) or isinstance(pool_bytes_limit, bool) or pool_bytes_limit < 0:
            raise InvalidArgumentError(f"Executor: pool_bytes_limit must be an int >= 0, got {pool_bytes_limit!r}")
        self.place = place or CPUPlace()
        self.check_nan_inf = bool(check_nan_inf)
        self.nan_inf_skip_ops = frozenset(nan_inf_skip_ops)
        self.pool_bytes_limit = pool_bytes_limit
        # Least recently used first. Weak: the strong reference is the program's (_keep).
        self._plans: OrderedDict[tuple[Any, ...], weakref.ref[Plan]] = OrderedDict()
        self._owners: dict[tuple[Any, ...], weakref.ref[Program]] = {}
        self._pooled: dict[tuple[Any, ...], int] = {}  # bytes in each plan's pools after its last run
        self._lock = threading.Lock()

    def run(
        self,
        program: Program | None = None,
        feed: dict[Any, Any] | None = None,
        fetch_list: Any = None,
        scope: Scope | None = None,
        return_numpy: bool = True,
        check_nan_inf: bool | None = None,
        build_strategy: BuildStrategy | None = None,
    ) -> list[Any]:
        """Run every op of `program` (a Program or CompiledProgram) once; return copies of
        the `fetch_list` values. `check_nan_inf` overrides the executor's setting for this
        run. `build_strategy` chooses the compile-time passes (default: the
        CompiledProgram's, else every pass on). `return_numpy` is accepted for Paddle
        compatibility and ignored: results are always numpy arrays.

            loss_value, = exe.run(main, feed={"x": xb}, fetch_list=[loss])
        """
        program = default_main_program() if program is None else program
        if isinstance(program, CompiledProgram):
            build_strategy = program.build_strategy if build_strategy is None else build_strategy
            program = program.program
        if not isinstance(program, Program):
            raise ArgumentTypeError(f"Executor.run expects a Program or CompiledProgram, got {type(program).__name__}")
        if build_strategy is None:
            build_strategy = BuildStrategy()
        elif not isinstance(build_strategy, BuildStrategy):
            raise ArgumentTypeError(
                f"build_strategy must be a BuildStrategy or None, got {type(build_strategy).__name__}"
            )
        scope = global_scope() if scope is None else scope
        feed = {} if feed is None else feed
        if isinstance(feed, (list, tuple)) and len(feed) == 1 and isinstance(feed[0], dict):
            feed = feed[0]  # a DataLoader's step: one feed dict per place, and there is one place
        if not isinstance(feed, dict):
            raise FeedError(f"feed must be a dict of name -> array, got {type(feed).__name__}")
        if fetch_list is None:
            fetch_list = []
        elif not isinstance(fetch_list, (list, tuple)):
            fetch_list = [fetch_list]
        feed_by_name = {_feed_key(k, program): v for k, v in feed.items()}
        fetch_names = tuple(_name_of(f, "fetch_list items") for f in fetch_list)
        key = (program._uid, program.version, tuple(sorted(feed_by_name)), fetch_names, build_strategy.key())
        plan = self._plan(program, key, build_strategy)
        arrays = {name: plan.check_feed(name, value) for name, value in feed_by_name.items()}
        check = self.check_nan_inf if check_nan_inf is None else check_nan_inf
        with scope_lock(scope):
            results = plan.run(scope, arrays, self.nan_inf_skip_ops if check else None)
        self._account(key, plan)
        return [np.array(r, copy=True) for r in results]

    def _plan(self, program: Program, key: tuple[Any, ...], strategy: BuildStrategy) -> Plan:
        with self._lock:
            ref = self._plans.get(key)
            plan = ref() if ref is not None else None
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        plan = Plan(program, key[2], key[3], apply_build_strategy(program, strategy, key[2], key[3]))
        with self._lock:
            kept = _kept_plans(program, self)
            for old in [k for k in kept if k[1] < program.version]:
                del kept[old]  # plans of older versions of the program can never run again
            kept[key] = plan
            self._plans[key] = weakref.ref(plan)
            self._owners[key] = weakref.ref(program)
            self._prune()
        return plan

    def _prune(self) -> None:
        """Forget plans whose program is gone, then the least recently used beyond the count."""
        for key in [k for k, ref in self._plans.items() if ref() is None]:
            self._forget(key)
        while len(self._plans) > _CACHE_SIZE:
            self._forget(next(iter(self._plans)))

    def _forget(self, key: tuple[Any, ...]) -> None:
        self._plans.pop(key, None)
        self._pooled.pop(key, None)
        program = self._owners.pop(key, lambda: None)()
        if program is not None:
            _kept_plans(program, self).pop(key, None)

    def _account(self, key: tuple[Any, ...], plan: Plan) -> None:
        """Empty the pools of the least recently used plans while the bytes they keep (the
        plan just run aside) exceed pool_bytes_limit. A plan's bytes are counted when another
        plan's run needs them (-1 until then): its pools change only while it runs, and a
        training loop running one plan skips the count on every step."""
        with self._lock:
            self._pooled[key] = -1
            others = [k for k, n in self._pooled.items() if n and k != key]
            if not others:
                return
            sizes = {k: self._counted(k) for k in others}
            excess = sum(sizes.values()) - self.pool_bytes_limit
            for old in list(self._plans):
                if excess <= 0:
                    break
                if old == key or not sizes.get(old):
                    continue
                other = self._plans[old]()
                if other is not None:
                    other._pools.clear()  # idle pools only: a running plan holds its own
                excess -= sizes[old]
                self._pooled.pop(old)

    def _counted(self, key: tuple[Any, ...]) -> int:
        """The bytes the pools of plan `key` keep, counted now if not yet (under the lock)."""
        n = self._pooled[key]
        if n < 0:
            ref = self._plans.get(key)
            plan = ref() if ref is not None else None
            n = self._pooled[key] = _pooled_bytes(plan) if plan is not None else 0
        return n

    def _cached_plans(self) -> list[Plan]:
        """The plans in the cache whose program is alive, least recently used first."""
        with self._lock:
            return [p for p in (ref() for ref in self._plans.values()) if p is not None]

    def close(self) -> None:
        """Drop every cached plan and the buffers they pool."""
        with self._lock:
            for key in list(self._plans):
                plan = self._plans[key]()
                if plan is not None:
                    plan._pools.clear()
                self._forget(key)


def _kept_plans(program: Program, executor: Executor) -> dict[tuple[Any, ...], Plan]:
    """The plans `executor` compiled for `program`, held by the program itself so they live
    exactly as long as it does (the executor's cache only refers to them weakly). Keyed
    weakly by executor, so a dropped executor's plans go too."""
    holder = vars(program).get("_executor_plans")
    if holder is None:
        holder = vars(program).setdefault("_executor_plans", weakref.WeakKeyDictionary())
    return holder.setdefault(executor, {})


def _pooled_bytes(plan: Plan) -> int:
    try:
        return sum(pool.nbytes() for pool in list(plan._pools))
    except RuntimeError:  # a pool taken by a concurrent run changed size meanwhile
        return 0
