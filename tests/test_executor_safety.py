"""The executor's guarantees about memory, stored values and threads:

* the plan cache holds plans weakly (a dropped program takes its plans and buffers with
  it) and bounds the bytes its buffer pools keep; `close()` frees everything;
* feeding a persistable stores a copy, so the caller's array stays the caller's;
* a feed or constant that its variable's dtype cannot hold is an error naming it, never a
  silent wrap-around (a uint64 label of 2**64-100 used to become -100: ignore_index);
* runs on one scope are serialised: two threads sharing a scope lose no update.
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
import weakref

import numpy as np
import pytest

import minigraph as mg
from minigraph.initializer import Constant


def conv_net():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3, 32, 32])
        label = mg.data("label", [None, 1], "int64")
        h = mg.layers.conv2d(x, 16, 3, padding=1, act="relu")
        h = mg.layers.conv2d(h, 16, 3, padding=1, act="relu")
        logits = mg.layers.fc(mg.layers.pool2d(h, 2, "max", 2), 10)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        mg.optimizer.SGD(0.01).minimize(loss)
    rng = np.random.default_rng(0)
    feed = {"x": rng.normal(size=(16, 3, 32, 32)).astype("float32"), "label": rng.integers(0, 10, (16, 1))}
    return main, startup, logits, loss, feed


def pooled(exe: mg.Executor) -> list[int]:
    return [sum(pool.nbytes() for pool in plan._pools) for plan in exe._cached_plans()]


# --- the plan cache --------------------------------------------------------------------------
def test_a_fresh_clone_per_evaluation_does_not_grow_memory():
    """Each evaluation on a new main.clone(for_test=True) compiles a plan with its own
    buffer pool (~15 MiB here). The clone, once dropped, takes its plan and pool with it;
    before, 64 plans and their pools stayed cached (+61 MiB RSS per clone at batch 64)."""
    main, startup, logits, loss, feed = conv_net()
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    gc.collect()
    tracemalloc.start()
    try:
        clones = []
        for step in range(5):
            test = main.clone(for_test=True)
            exe.run(test, feed=feed, fetch_list=[logits], scope=scope)
            clones.append(weakref.ref(test))
            del test
            gc.collect()
            if step == 1:
                base = tracemalloc.get_traced_memory()[0]
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert all(ref() is None for ref in clones)  # the programs (and their plans) are gone
    assert len(exe._cached_plans()) == 1  # the startup program's; no clone's plan left
    assert grown < 2 << 20, f"{grown / 2**20:.1f} MiB kept by 3 dropped clones"


def test_pooled_bytes_across_live_plans_stay_under_the_limit_and_close_frees_all():
    main, startup, logits, loss, feed = conv_net()
    exe, scope = mg.Executor(pool_bytes_limit=1 << 20), mg.Scope()
    exe.run(startup, scope=scope)
    tests = [main.clone(for_test=True) for _ in range(4)]  # kept alive: the byte limit must act
    for _ in range(2):
        for t in tests:
            exe.run(t, feed=feed, fetch_list=[logits], scope=scope)
            sizes = pooled(exe)
            assert sizes[-1] > 1 << 20  # the plan just run keeps its whole pool...
            assert sum(sizes[:-1]) <= 1 << 20  # ...the others share the limit, least recent emptied first
    (again,) = exe.run(tests[-1], feed=feed, fetch_list=[logits], scope=scope)
    assert again.shape == (16, 10) and len(exe._cached_plans()) == 5
    exe.close()
    assert exe._cached_plans() == [] and all(not vars(t).get("_executor_plans", {}).get(exe) for t in tests)
    with pytest.raises(ValueError, match="pool_bytes_limit must be an int >= 0"):
        mg.Executor(pool_bytes_limit=-1)


def test_a_plan_is_reused_while_its_program_lives():
    main, startup, logits, loss, feed = conv_net()
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    test = main.clone(for_test=True)
    exe.run(test, feed=feed, fetch_list=[logits], scope=scope)
    plan = [p for p in exe._cached_plans() if p.program is test]
    exe.run(test, feed=feed, fetch_list=[logits], scope=scope)
    assert len(plan) == 1 and [p for p in exe._cached_plans() if p.program is test] == plan


# --- feeds are copied when stored -----------------------------------------------------------
def test_feeding_a_persistable_stores_a_copy():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 2])
        y = mg.layers.fc(x, 1, param_attr=mg.ParamAttr(name="w", initializer=Constant(1.0)), bias_attr=False)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    mine = np.full((2, 1), 3.0, "float32")
    (out,) = exe.run(main, feed={"x": np.ones((1, 2), "float32"), "w": mine}, fetch_list=[y], scope=scope)
    assert out.tolist() == [[6.0]]
    mine[:] = 100.0  # the caller reuses their array
    np.testing.assert_array_equal(scope.find_var("w").get_tensor(), [[3.0], [3.0]])
    (out,) = exe.run(main, feed={"x": np.ones((1, 2), "float32")}, fetch_list=[y], scope=scope)
    assert out.tolist() == [[6.0]]


# --- values that do not fit their dtype -------------------------------------------------------
def classifier():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3])
        label = mg.data("label", [None, 1], "int64")
        small = mg.data("small", [None, 1], "int8")
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(mg.layers.fc(x, 4), label))
        mg.optimizer.SGD(0.1).minimize(loss)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    return main, loss, small, exe, scope


@pytest.mark.parametrize(
    "feed, pattern",
    [
        (
            {"label": np.array([[2**64 - 100]], np.uint64)},
            r"feed 'label': value 18446744073709551516 does not fit the variable's dtype int64.*wrap it around to -100",
        ),
        ({"small": np.array([[1000]], np.int64)}, r"feed 'small': value 1000 does not fit .* int8 \(-128\.\.127\)"),
        ({"small": np.array([[-129]], np.int16)}, r"feed 'small': value -129 does not fit"),
        ({"x": np.array([[1e300, 0, 0]])}, r"feed 'x': value 1e\+300 does not fit the variable's dtype float32"),
    ],
)
def test_a_feed_value_its_dtype_cannot_hold_is_refused(feed, pattern):
    main, loss, small, exe, scope = classifier()
    full = {"x": np.zeros((1, 3), "float32"), "label": np.zeros((1, 1), "int64"), "small": np.zeros((1, 1), "int8")}
    before = np.array(scope.find_var("fc_0.w_0").get_tensor())
    with pytest.raises(mg.FeedError, match=pattern):
        exe.run(main, feed={**full, **feed}, fetch_list=[loss, small], scope=scope)
    np.testing.assert_array_equal(scope.find_var("fc_0.w_0").get_tensor(), before)  # nothing ran


def test_feed_values_that_fit_are_converted_as_before():
    main, loss, small, exe, scope = classifier()
    feed = {
        "x": np.array([[1e30, np.inf, -np.inf]]),  # finite float64 within float32 range; an Inf stays an Inf
        "label": np.array([[3]], np.uint64),
        "small": np.array([[-128]], np.int64),
    }
    with np.errstate(all="ignore"):
        _, s = exe.run(main, feed=feed, fetch_list=[loss, small], scope=scope)
    assert s.dtype == np.int8 and s.tolist() == [[-128]]


@pytest.mark.parametrize(
    "dtype, value, pattern",
    [
        ("int8", 1000, r"value 1000 is outside int8's range -128\.\.127"),
        ("int32", 2**40, r"value 1099511627776 is outside int32's range"),
        ("float32", 1e300, r"value 1e\+300 is beyond float32's largest value"),
        ("int64", float("nan"), r"value nan is not a finite number"),
    ],
)
def test_a_constant_its_dtype_cannot_hold_is_refused_naming_the_variable(dtype, value, pattern):
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        with pytest.raises(mg.GraphBuildError, match=r"fill_constant.*" + pattern):
            mg.layers.fill_constant([2], dtype, value)
        with pytest.raises(mg.GraphBuildError, match=r"'counter'.*" + pattern):
            mg.layers.create_global_var([1], value, dtype, persistable=True, name="counter")
    assert not [op for b in (main, startup) for op in b.global_block().ops if op.type == "fill_constant"]


# --- threads sharing a scope ---------------------------------------------------------------------
def test_two_threads_sharing_a_scope_lose_no_update():
    """400 Adam steps from two threads on one scope: every step's accumulator update lands
    (before, beta1_pow showed 186 of the 400 steps)."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 4])
        loss = mg.layers.mean(mg.layers.fc(x, 2))
        mg.optimizer.Adam(0.01, beta1=0.99).minimize(loss)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    feed = {"x": np.ones((2, 4), "float32")}
    start = threading.Barrier(2)

    def train() -> None:
        start.wait()
        for _ in range(200):
            exe.run(main, feed=feed, scope=scope)

    threads = [threading.Thread(target=train) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pow_ = float(np.asarray(scope.find_var("fc_0.w_0_beta1_pow_acc_0").get_tensor()).reshape(-1)[0])
    steps = round(np.log(pow_) / np.log(0.99)) - 1  # the accumulator starts at beta1
    assert steps == 400
