"""The executor's performance machinery is invisible in results: recycled buffers never
change a value anyone can see, and kernels that skip unwired outputs still compute the
wired ones exactly."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import minigraph as mg
from minigraph.ops import buffers
from minigraph.testing import OpCase, check_grad

RNG = np.random.default_rng(8)


def _cnn_program(batch_norm: bool = True) -> tuple[mg.Program, mg.Program, mg.Variable, mg.Variable]:
    main, startup = mg.Program(), mg.Program()
    main.random_seed = startup.random_seed = 5
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3, 8, 8])
        label = mg.data("label", [None, 1], "int64")
        h = mg.layers.conv2d(x, 8, 3, padding=1, bias_attr=False)
        if batch_norm:
            h = mg.layers.batch_norm(h, act="relu")
        h = mg.layers.pool2d(h, 2, "max", 2)
        h = mg.layers.conv2d(h, 8, 3, padding=1, act="relu")
        logits = mg.layers.fc(mg.layers.flatten(h, 1), 5)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        mg.optimizer.SGD(0.1).minimize(loss)
    return main, startup, loss, logits


def _feed(n: int = 64) -> dict[str, np.ndarray]:
    """64 samples: activations of 128 KiB, above buffers.MIN_BYTES, so they are recycled."""
    return {
        "x": RNG.normal(size=(n, 3, 8, 8)).astype("float32"),
        "label": RNG.integers(0, 5, (n, 1)).astype("int64"),
    }


def _train(exe_per_step: bool, steps: int, feed: dict[str, np.ndarray]) -> tuple[list[float], dict[str, np.ndarray]]:
    main, startup, loss, _ = _cnn_program()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    losses = []
    for _ in range(steps):
        runner = mg.Executor() if exe_per_step else exe  # a fresh executor: no recycled buffers
        losses.append(float(runner.run(main, feed=feed, fetch_list=[loss], scope=scope)[0]))
    params = {p.name: np.array(scope.find_var(p.name).get_tensor()) for p in main.all_parameters()}
    return losses, params


def test_recycled_buffers_give_bit_identical_training():
    feed = _feed()
    main, startup, loss, _ = _cnn_program()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    exe.run(main, feed=feed, fetch_list=[loss], scope=scope)
    (plan,) = [p for p in exe._cached_plans() if p.program is main]
    assert plan._pools and plan._pools[0].nbytes() > 0  # the machinery under test is at work
    fresh_losses, fresh_params = _train(True, 4, feed)
    pooled_losses, pooled_params = _train(False, 4, feed)
    assert fresh_losses == pooled_losses
    for name, value in fresh_params.items():
        assert np.array_equal(value, pooled_params[name]), name


def test_values_held_by_the_user_are_never_recycled():
    main, startup, loss, logits = _cnn_program()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    feed = _feed()
    exe.run(main, feed=feed, fetch_list=[loss], scope=scope)
    # a view of a parameter taken between runs keeps the value it had, run after run
    w_name = main.all_parameters()[0].name
    held = scope.find_var(w_name).get_tensor()
    snapshot = np.array(held)
    fetched = exe.run(main, feed=feed, fetch_list=[logits], scope=scope)[0]
    fetched_copy = fetched.copy()
    for _ in range(3):
        exe.run(main, feed=feed, fetch_list=[loss, logits], scope=scope)
    assert np.array_equal(held, snapshot)
    assert np.array_equal(fetched, fetched_copy)
    assert not np.array_equal(np.asarray(scope.find_var(w_name).get_tensor()), snapshot)  # it did train


def test_concurrent_runs_of_one_plan_do_not_share_buffers():
    main, startup, loss, logits = _cnn_program(batch_norm=False)
    test = main.clone(for_test=True)
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    feeds = [_feed() for _ in range(4)]
    want = [exe.run(test, feed=f, fetch_list=[logits], scope=scope)[0] for f in feeds]
    errors: list[str] = []

    def worker(k: int) -> None:
        for _ in range(15):
            got = exe.run(test, feed=feeds[k], fetch_list=[logits], scope=scope)[0]
            if not np.array_equal(got, want[k]):
                errors.append(f"thread {k}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_pool_keeps_only_unreferenced_arrays():
    pool = buffers.BufferPool()
    big = np.ones(buffers.MIN_BYTES // 8 + 1)
    env = [big]
    pool.release(env, 0)  # `big` is still referenced here
    assert env == [None] and pool.nbytes() == 0
    env = [np.ones(buffers.MIN_BYTES // 8 + 1)]
    pool.release(env, 0)
    assert pool.nbytes() > 0
    assert pool.take((buffers.MIN_BYTES // 8 + 1,), np.dtype(np.float64)) is not None
    # a view: its owner is kept once the view is dropped and nothing else holds the owner
    env = [np.ones((4, buffers.MIN_BYTES // 8)).reshape(-1)]
    pool.release(env, 0)
    assert pool.take((4, buffers.MIN_BYTES // 8), np.dtype(np.float64)) is not None
    owner = np.ones((4, buffers.MIN_BYTES // 8))
    env = [owner[1:]]
    pool.release(env, 0)  # the owner is still referenced
    assert pool.nbytes() == 0
    env = [np.ones(8)]  # small arrays are left to malloc
    pool.release(env, 0)
    assert pool.nbytes() == 0


def test_empty_outside_a_run_is_numpy():
    a = buffers.empty((3, 4), "float32")
    assert a.shape == (3, 4) and a.dtype == np.float32
    assert np.array_equal(buffers.zeros((2,), np.float64), [0.0, 0.0])


# --- kernels that skip unwired outputs --------------------------------------------------------


def test_conv2d_grad_without_input_gradient():
    x = RNG.normal(size=(2, 3, 5, 5))
    w = RNG.normal(size=(4, 3, 3, 3))
    for attrs in ({"paddings": [1, 1]}, {"strides": [2, 2], "paddings": [1, 0], "data_format": "NHWC"}):
        xx = x.transpose(0, 2, 3, 1) if attrs.get("data_format") == "NHWC" else x
        check_grad(OpCase("conv2d", {"Input": xx, "Filter": w}, attrs, grad=["Filter"]))


@pytest.mark.parametrize("tx", [False, True])
@pytest.mark.parametrize("ty", [False, True])
def test_matmul_grad_transposes(tx, ty):
    x = RNG.normal(size=(3, 2) if tx else (2, 3))
    y = RNG.normal(size=(4, 3) if ty else (3, 4))
    check_grad(OpCase("matmul", {"X": x, "Y": y}, {"transpose_X": tx, "transpose_Y": ty, "alpha": 1.5}))
    check_grad(OpCase("matmul", {"X": x, "Y": y}, {"transpose_X": tx, "transpose_Y": ty}, grad=["Y"]))


def test_batch_norm_grad_without_input_gradient():
    x = RNG.normal(size=(4, 3, 2, 2)) + 2.0
    stats = {
        "Scale": RNG.uniform(0.5, 1.5, 3),
        "Bias": RNG.normal(size=3),
        "Mean": RNG.normal(size=3),
        "Variance": RNG.uniform(0.5, 1.5, 3),
    }
    for attrs in ({}, {"use_global_stats": True}, {"data_layout": "NHWC"}):
        xx = x.transpose(0, 2, 3, 1) if attrs.get("data_layout") == "NHWC" else x
        case = OpCase(
            "batch_norm",
            {"X": xx, **stats},
            attrs,
            grad=["Scale", "Bias"],
            outputs=["Y"],
            persistable=("Mean", "Variance"),
        )
        check_grad(case)


def test_tiled_max_pool_grad_sends_ties_to_the_first_maximum():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [1, 1, 4, 4])
        x.stop_gradient = False
        y = mg.layers.pool2d(x, 2, "max", 2)
        (dx,) = mg.gradients([y], [x])
    xv = np.zeros((1, 1, 4, 4), "float32")  # every window ties
    xv[0, 0, 3, 3] = 1.0
    (got,) = mg.Executor().run(main, feed={"x": xv}, fetch_list=[dx], scope=mg.Scope())
    want = np.zeros((4, 4), "float32")
    want[0, 0] = want[0, 2] = want[2, 0] = 1.0
    want[3, 3] = 1.0
    assert np.array_equal(got[0, 0], want)


def test_the_pool_does_not_grow_from_run_to_run():
    main, startup, loss, _ = _cnn_program()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    feed = _feed()
    sizes = []
    for _ in range(5):
        exe.run(main, feed=feed, fetch_list=[loss], scope=scope)
        (plan,) = [p for p in exe._cached_plans() if p.program is main]
        sizes.append(sum(pool.nbytes() for pool in plan._pools))
    assert sizes[1] > 0 and sizes[-1] == sizes[1]


def test_end_run_keeps_at_most_what_the_run_asked_for():
    pool = buffers.BufferPool()
    key = ((buffers.MIN_BYTES,), np.dtype(np.uint8))
    assert pool.take(*key) is None  # one buffer wanted this run
    for _ in range(3):
        env = [np.zeros(buffers.MIN_BYTES, np.uint8)]
        pool.release(env, 0)
    env = [np.zeros(2 * buffers.MIN_BYTES, np.uint8)]  # a shape nobody asked for
    pool.release(env, 0)
    pool.end_run()
    assert pool.nbytes() == buffers.MIN_BYTES
