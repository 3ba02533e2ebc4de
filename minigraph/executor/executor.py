"""Executor: validates feeds, compiles programs into cached Plans, runs them in a Scope."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from minigraph.errors import FeedError
from minigraph.executor.plan import Plan
from minigraph.executor.scope import Scope, global_scope
from minigraph.ir.framework import default_main_program
from minigraph.ir.program import Program

_CACHE_SIZE = 64


def _name_of(item: Any, what: str) -> str:
    if isinstance(item, str):
        return item
    name = getattr(item, "name", None)
    if isinstance(name, str):
        return name
    raise TypeError(f"{what} items must be variable names or Variables, got {type(item).__name__}")


class CPUPlace:
    """The only place minigraph runs on; accepted for Paddle compatibility."""

    def __repr__(self) -> str:
        return "CPUPlace"


class Executor:
    """Runs programs. Compiled plans are cached per (program, version, feeds, fetches)."""

    def __init__(self, place: Any = None, check_nan_inf: bool = False, nan_inf_skip_ops: Any = ()) -> None:
        """`check_nan_inf=True` checks every float output of every op (optimizer updates and
        batch_norm statistics included) and raises at the first NaN/Inf, naming the op, the
        output and the first input that already carried one; ops in `nan_inf_skip_ops` are
        not checked. Off by default, at no cost."""
        self.place = place or CPUPlace()
        self.check_nan_inf = bool(check_nan_inf)
        self.nan_inf_skip_ops = frozenset(nan_inf_skip_ops)
        self._plans: OrderedDict[tuple[Any, ...], Plan] = OrderedDict()
        self._lock = threading.Lock()

    def run(
        self,
        program: Program | None = None,
        feed: dict[Any, Any] | None = None,
        fetch_list: Any = None,
        scope: Scope | None = None,
        return_numpy: bool = True,
        check_nan_inf: bool | None = None,
    ) -> list[Any]:
        """Run every op of `program` once; return copies of the `fetch_list` values.
        `check_nan_inf` overrides the executor's setting for this run. `return_numpy` is
        accepted for Paddle compatibility and ignored: results are always numpy arrays.

            loss_value, = exe.run(main, feed={"x": xb}, fetch_list=[loss])
        """
        program = default_main_program() if program is None else program
        if not isinstance(program, Program):
            raise TypeError(f"Executor.run expects a Program, got {type(program).__name__}")
        scope = global_scope() if scope is None else scope
        feed = {} if feed is None else feed
        if not isinstance(feed, dict):
            raise FeedError(f"feed must be a dict of name -> array, got {type(feed).__name__}")
        if fetch_list is None:
            fetch_list = []
        elif not isinstance(fetch_list, (list, tuple)):
            fetch_list = [fetch_list]
        feed_by_name = {_name_of(k, "feed"): v for k, v in feed.items()}
        fetch_names = tuple(_name_of(f, "fetch_list") for f in fetch_list)
        plan = self._plan(program, tuple(sorted(feed_by_name)), fetch_names)
        arrays = {name: plan.check_feed(name, value) for name, value in feed_by_name.items()}
        check = self.check_nan_inf if check_nan_inf is None else check_nan_inf
        results = plan.run(scope, arrays, self.nan_inf_skip_ops if check else None)
        return [np.array(r, copy=True) for r in results]

    def _plan(self, program: Program, feed_names: tuple[str, ...], fetch_names: tuple[str, ...]) -> Plan:
        key = (program._uid, program.version, feed_names, fetch_names)
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        plan = Plan(program, feed_names, fetch_names)
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > _CACHE_SIZE:
                self._plans.popitem(last=False)
        return plan

    def close(self) -> None:
        self._plans.clear()
