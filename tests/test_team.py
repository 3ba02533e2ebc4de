"""minigraph's worker threads (minigraph/ops/team.py): how work is shared out, that an error
reaches the caller after every call finished, that the compiled conv2d split across two
threads agrees with the numpy kernels, and that a run leaves BLAS's thread count and the
caller's CPU affinity as it found them."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import minigraph as mg
from minigraph.errors import InvalidArgumentError
from minigraph.ops import backend, blas, conv_loops, conv_rows, team
from tests.test_kernel_backends import CONV_ROWS, numba_agrees_with_numpy
from tests.test_ops import NO_NUMBA

NCHW_CONV_ROWS = [c for c in CONV_ROWS if c.attrs.get("data_format", "NCHW") == "NCHW"]
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
TWO_CPUS = pytest.mark.skipif(CPUS < 2, reason="a team needs two CPUs and this process may use one")


class FakeBlas(blas.Blas):
    """A BLAS reporting `threads`, recording what it is set to."""

    def __init__(self, threads: int) -> None:
        self.threads, self.history = threads, []
        super().__init__("fake", lambda: self.threads, self._set)

    def _set(self, n: int) -> None:
        self.history.append(n)
        self.threads = n


@pytest.fixture
def two_threads(monkeypatch):
    """BLAS says 2 threads and any work is worth splitting."""
    fake = FakeBlas(2)
    monkeypatch.setattr(team._team, "blas", fake)
    monkeypatch.setattr(team, "MIN_WORK", 0)
    return fake


@TWO_CPUS
def test_a_run_lends_the_team_on_the_first_ask_and_puts_everything_back(two_threads):
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    lent = team.open_run()
    assert team.size() == 1 and two_threads.history == []  # nothing asked yet
    assert team.threads_for(10) == 2
    assert team.size() == 2 and two_threads.history == [1]  # BLAS single-threaded meanwhile
    if before is not None:
        pinned = []
        team.each(4, lambda i, slot: pinned.append((slot, len(os.sched_getaffinity(0)))), 2)
        assert {n for _, n in pinned} == {1}  # each thread on one CPU during a split
        assert os.sched_getaffinity(0) == before  # and the lender free again after it
    nested = team.open_run()  # a run inside the run shares its team
    assert nested is None and team.threads_for(10) == 2
    team.close_run(nested)
    assert team.size() == 2
    team.close_run(lent)
    assert team.size() == 1 and two_threads.history == [1, 2]
    if before is not None:
        assert os.sched_getaffinity(0) == before
    assert team.threads_for(10) == 1  # outside a run: no team


@TWO_CPUS
def test_small_work_and_one_blas_thread_do_not_borrow(monkeypatch):
    fake = FakeBlas(2)
    monkeypatch.setattr(team._team, "blas", fake)
    lent = team.open_run()
    assert team.threads_for(team.MIN_WORK - 1) == 1 and not lent.held
    team.close_run(lent)
    fake.threads = 1
    lent = team.open_run()
    assert team.threads_for(team.MIN_WORK) == 1 and not lent.held and fake.history == []
    team.close_run(lent)


@TWO_CPUS
def test_the_team_is_lent_to_one_thread_at_a_time(two_threads):
    lent = team.open_run(lend_now=True)
    seen = []

    def other_run() -> None:
        inner = team.open_run()
        seen.append(team.threads_for(10))
        team.close_run(inner)

    t = threading.Thread(target=other_run)
    t.start()
    t.join()
    assert seen == [1] and team.size() == 2
    team.close_run(lent)


@TWO_CPUS
@pytest.mark.parametrize("count", [0, 1, 2, 7, 64])
def test_each_calls_every_index_once_on_at_most_the_threads_asked(count, two_threads):
    calls = []
    lent = team.open_run(lend_now=True)
    try:
        team.each(count, lambda i, slot: calls.append((i, slot, threading.get_ident())), 2)
    finally:
        team.close_run(lent)
    assert sorted(i for i, _, _ in calls) == list(range(count))
    assert {slot for _, slot, _ in calls} <= {0, 1}
    assert len({(slot, ident) for _, slot, ident in calls}) == len({slot for _, slot, _ in calls})  # a slot, a thread


@TWO_CPUS
def test_a_slow_thread_takes_fewer_chunks(two_threads):
    """A thread slowed by something else on its core does less: the chunks are taken one at
    a time, not dealt out in halves."""
    import time

    taken = {0: 0, 1: 0}

    def chunk(i: int, slot: int) -> None:
        taken[slot] += 1
        time.sleep(0.004 if slot == 1 else 0.001)

    lent = team.open_run(lend_now=True)
    try:
        team.each(40, chunk, 2)
    finally:
        team.close_run(lent)
    assert taken[0] + taken[1] == 40 and taken[0] > 2 * taken[1]


@TWO_CPUS
def test_an_error_is_raised_after_every_call_finished(two_threads):
    finished = []

    def chunk(i: int, slot: int) -> None:
        if i == 3:
            raise ValueError("chunk 3 failed")
        finished.append(i)

    lent = team.open_run(lend_now=True)
    try:
        with pytest.raises(ValueError, match="chunk 3 failed"):
            team.each(8, chunk, 2)
        assert 3 not in finished
        finished.clear()
        team.each(4, lambda i, slot: finished.append(i), 2)  # the worker survives its call's error
        assert sorted(finished) == [0, 1, 2, 3]
        with pytest.raises(InvalidArgumentError, match="3 threads asked of a team of 2"):
            team.each(8, chunk, 3)
    finally:
        team.close_run(lent)


@NO_NUMBA
@TWO_CPUS
@pytest.mark.parametrize("case", NCHW_CONV_ROWS, ids=[c.id for c in NCHW_CONV_ROWS])
def test_conv_split_across_two_threads_agrees_with_numpy(case, two_threads, monkeypatch):
    """The op tables' convolutions with one sample per chunk, the batch split across a team
    of two, against the numpy kernels (forward, and the gradients where the op has them)."""
    monkeypatch.setattr(conv_rows, "CHUNK_BYTES", 1)
    split = []
    real_each = team.each
    monkeypatch.setattr(
        team, "each", lambda count, fn, threads=1: (split.append(min(threads, count)), real_each(count, fn, threads))[1]
    )
    numba_agrees_with_numpy(case)
    batch = next(v for k, v in case.inputs.items() if k in ("Input", "X")).shape[0]
    assert max(split) == min(2, batch)  # the batch really was split when it could be
    assert two_threads.threads == 2  # and BLAS got its threads back


@NO_NUMBA
@TWO_CPUS
def test_a_failing_run_gives_the_team_back(two_threads, monkeypatch):
    monkeypatch.setattr(conv_rows, "CHUNK_BYTES", 1)
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 2, 6, 6])
        y = mg.layers.conv2d(x, 3, 3, padding=1)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    feed = {"x": np.ones((4, 2, 6, 6), "float32")}
    with backend.forced("numba"):
        (want,) = exe.run(main, feed=feed, fetch_list=[y], scope=scope)
        assert two_threads.history == [1, 2]

        def broken(*args: object) -> None:
            raise RuntimeError("an epilogue failed")

        monkeypatch.setattr(conv_loops, "epilogue", lambda *args: broken)
        with pytest.raises(mg.errors.ExecutionError, match="an epilogue failed"):
            exe.run(main, feed=feed, fetch_list=[y], scope=scope)
        assert two_threads.threads == 2 and team.size() == 1 and not team._team.lock.locked()
        monkeypatch.undo()
        monkeypatch.setattr(team._team, "blas", two_threads)
        monkeypatch.setattr(team, "MIN_WORK", 0)
        monkeypatch.setattr(conv_rows, "CHUNK_BYTES", 1)
        (again,) = exe.run(main, feed=feed, fetch_list=[y], scope=scope)
    np.testing.assert_array_equal(again, want)
    assert two_threads.threads == 2
