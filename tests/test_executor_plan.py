"""Plan compilation: the analysis (slots, first reads, last uses, wired outputs), the
per-op seed formula, and check_nan_inf sharing the one run loop."""

from __future__ import annotations

import numpy as np
import pytest

import minigraph as mg
from minigraph.executor.analysis import analyse
from minigraph.executor.plan import Plan
from minigraph.registry import op_seed


def chain():
    """x -> scale -> a -> relu -> b -> scale -> c, plus a persistable w read by the last op."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 3], dtype="float32")
        w = mg.create_parameter([3], "float32", name="w", default_initializer=mg.initializer.Constant(2.0))
        a = mg.layers.scale(x, scale=2.0)
        b = mg.layers.relu(a)
        c = mg.layers.elementwise_mul(b, w)
    return main, startup, x, a, b, c


def test_analysis_numbers_slots_finds_first_reads_and_last_uses():
    main, _, x, a, b, c = chain()
    an = analyse(main.global_block(), ["x"], [c.name])
    assert list(an.index) == ["x", a.name, b.name, "w", c.name]  # feeds first, then in order of use
    assert an.persist_in == [("w", 3)] and an.persist_out == []
    assert an.fetch_idx == [4]
    # x dies after the scale, a after the relu, b after the mul; c is fetched and w persistable
    dead = [sorted(f + d) for f, d in zip(an.free_after, an.drop_after)]
    assert dead == [[0], [1], [2]]
    assert an.drop_after == [(0,), (1,), (2,)]  # unknown batch: possibly big, so to the buffer pool
    assert an.wired == [None, None, None]


def test_analysis_records_which_optional_outputs_are_wired():
    main = mg.Program()
    with mg.program_guard(main, mg.Program()):
        x = mg.data("x", shape=[None, 4], dtype="float32")
        x.stop_gradient = False
        loss = mg.layers.mean(mg.layers.dropout(x, 0.5))
        mg.gradients([loss], [x])
    block = main.global_block()
    an = analyse(block, ["x"], [])
    grads = [k for k, op in enumerate(block.ops) if op.type == "dropout_grad"]
    assert [an.wired[k] for k in grads] == [(True,)]
    assert an.wired[0] is None  # dropout itself has no optional outputs


def test_analysis_refuses_unknown_names_and_unfed_reads_before_any_op_runs():
    main, _, x, a, b, c = chain()
    block = main.global_block()
    with pytest.raises(
        mg.errors.FeedError, match="feed 'xx' is not a variable of the program being run; did you mean 'x'"
    ):
        analyse(block, ["xx"], [])
    with pytest.raises(mg.errors.FetchError, match="cannot fetch 'cc'"):
        analyse(block, ["x"], ["cc"])
    with pytest.raises(mg.errors.FeedError, match=r"variable 'x' is not fed, but op scale \(#0\) reads it"):
        analyse(block, [], [c.name])


def test_op_seed_formula():
    assert op_seed(7, 1) == 7 * 1_000_003 + 1  # positions count from 1
    assert op_seed(7, 5) == 7 * 1_000_003 + 5
    assert op_seed(3000, 3) == (3000 * 1_000_003 + 3) % (2**31 - 1)
    assert op_seed(2**31 - 1, 2**31 - 1) == 1  # never 0, which would mean fresh entropy
    assert len({op_seed(1, k) for k in range(1, 101)}) == 100


def test_the_executor_seeds_seedless_ops_with_op_seed():
    def dropout_program(program_seed, op_seed_attr):
        main = mg.Program()
        with mg.program_guard(main, mg.Program()):
            x = mg.data("x", shape=[None, 30], dtype="float64")
            mg.layers.scale(x, 1.0)  # op #0, so the dropout is op #1, at position 2
            y = mg.layers.dropout(x, 0.5, seed=op_seed_attr)
        main.random_seed = program_seed
        return main, y

    feed = {"x": np.ones((20, 30))}
    implicit, y1 = dropout_program(7, None)
    explicit, y2 = dropout_program(0, op_seed(7, 2))
    (got,) = mg.Executor().run(implicit, feed=feed, fetch_list=[y1], scope=mg.Scope())
    (want,) = mg.Executor().run(explicit, feed=feed, fetch_list=[y2], scope=mg.Scope())
    np.testing.assert_array_equal(got, want)
    assert 0 < (got == 0).sum() < got.size


def test_nan_check_uses_checked_steps_built_once_and_leaves_the_plain_steps_alone():
    main, startup, x, a, b, c = chain()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    feed = {"x": np.array([[1.0, -2.0, 3.0]], dtype="float32")}
    (plain,) = exe.run(main, feed=feed, fetch_list=[c], scope=scope)
    (checked,) = exe.run(main, feed=feed, fetch_list=[c], scope=scope, check_nan_inf=True)
    np.testing.assert_array_equal(plain, [[4.0, 0.0, 12.0]])
    np.testing.assert_array_equal(checked, plain)
    (plan,) = [p for p in exe._cached_plans() if p.program is main]
    assert isinstance(plan, Plan) and list(plan._checked_steps) == [frozenset()]
    steps = plan._checked_steps[frozenset()]
    assert [s[1:] for s in steps] == [s[1:] for s in plan.steps]  # same slots, frees and drops
    assert all(s[0] is not p[0] for s, p in zip(steps, plan.steps))
    scope.find_var("w").set(np.array([np.inf, 1.0, 1.0], dtype="float32"))
    with pytest.raises(
        mg.NonFiniteError,
        match=r"(?s)op #2 failed: .*= elementwise_mul\(X=relu_0.tmp_0, Y=w\).*input 'w' already carried",
    ):
        exe.run(main, feed=feed, fetch_list=[c], scope=scope, check_nan_inf=True)
    (unchecked,) = exe.run(main, feed=feed, fetch_list=[c], scope=scope)
    assert np.isinf(unchecked[0, 0])


# --- values freed before shape-only readers, and outputs taking a dying input's buffer ------


def fc_train():
    """fc (mul + bias add) -> mean loss, with SGD: the bias add's X (the mul's output) is
    read again only by elementwise_add_grad, for its shape."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 64], dtype="float32")
        h = mg.layers.fc(x, 256, param_attr=mg.ParamAttr(name="w"), bias_attr=mg.ParamAttr(name="b"))
        loss = mg.layers.mean(mg.layers.square(h))  # no relu: the add would fuse with it
        mg.optimizer.SGD(0.1).minimize(loss)
    main.random_seed = startup.random_seed = 3
    return main, startup, h, loss


def _ops(main, *types):
    return [k for k, op in enumerate(main.global_block().ops) if op.type in types]


def test_a_value_read_later_only_for_its_shape_dies_at_its_last_real_use():
    main, _, h, loss = fc_train()
    block = main.global_block()
    (add,) = _ops(main, "elementwise_add")
    (add_grad,) = _ops(main, "elementwise_add_grad")
    pre_bias = block.ops[add].input("X")[0]
    assert pre_bias in block.ops[add_grad].input("X")  # the gradient op still names it
    an = analyse(block, ["x"], [loss.name])
    slot = an.index[pre_bias]
    assert slot in an.shape_after[add]  # freed after the add, a stand-in left for the shape
    assert all(slot not in d for d in an.drop_after) and all(slot not in f for f in an.free_after)


def _spy_kernel(op_type, seen):
    """Record the data pointers and strides the kernel of `op_type` sees and returns."""
    from minigraph.registry import get_op

    op = get_op(op_type)
    real = op.kernel

    def spy(attrs, x, *rest):
        out = real(attrs, x, *rest)
        seen.append((x.__array_interface__["data"][0], x.strides, x.shape, out[0].__array_interface__["data"][0]))
        return out

    object.__setattr__(op, "kernel", spy)  # a frozen dataclass; the caller undoes it
    return lambda: object.__setattr__(op, "kernel", real)


def test_the_bias_add_writes_over_the_dying_product_and_its_gradient_gets_a_stand_in(monkeypatch):
    main, startup, h, loss = fc_train()
    adds, grads = [], []
    undo = [_spy_kernel("elementwise_add", adds), _spy_kernel("elementwise_add_grad", grads)]
    try:
        exe, scope = mg.Executor(), mg.Scope()
        exe.run(startup, scope=scope)
        x = np.random.default_rng(0).standard_normal((128, 64)).astype("float32")  # 128 KiB: pooled
        got = [float(exe.run(main, feed={"x": x}, fetch_list=[loss], scope=scope)[0]) for _ in range(3)]
    finally:
        for u in undo:
            u()
    (x_ptr, _, _, out_ptr) = adds[-1]
    assert out_ptr == x_ptr  # the sum took the product's buffer: the product was dead
    (_, strides, shape, _) = grads[-1]
    assert shape == (128, 256) and strides == (0, 0)  # a stand-in: shape and dtype, no memory
    # and the numbers are those of a run without either (the same seed, a fresh executor)
    main2, startup2, _, loss2 = fc_train()
    exe2, scope2 = mg.Executor(), mg.Scope()
    exe2.run(startup2, scope=scope2)
    monkeypatch.setattr("minigraph.executor.plan._donating", lambda call, i, keep: call)
    monkeypatch.setattr("minigraph.executor.plan._leaving_shapes", lambda call, slots: call)
    want = [float(exe2.run(main2, feed={"x": x}, fetch_list=[loss2], scope=scope2)[0]) for _ in range(3)]
    assert got == want


def test_a_fed_fetched_or_persistable_input_is_never_written_over():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 256], dtype="float32")
        z = mg.data("z", shape=[None, 256], dtype="float32")
        w = mg.create_parameter([64, 256], "float32", name="w", default_initializer=mg.initializer.Constant(1.0))
        b = mg.create_parameter([256], "float32", name="b", default_initializer=mg.initializer.Constant(0.5))
        from_feed = mg.layers.elementwise_add(x, b)  # X fed, read by this op alone
        from_param = mg.layers.elementwise_add(w, b)  # X persistable
        h = mg.layers.scale(z, scale=3.0)
        fetched = mg.layers.elementwise_add(h, b)  # X fetched as well
    assert main.global_block().var(x.name).shape == (-1, 256)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    feed = {"x": np.ones((64, 256), "float32"), "z": np.ones((64, 256), "float32")}  # 64 KiB each: pooled sizes
    for check in (False, True, False):
        fetch = [from_feed, from_param, h, fetched]
        outs = exe.run(main, feed=feed, fetch_list=fetch, scope=scope, check_nan_inf=check)
        np.testing.assert_array_equal(feed["x"], np.ones((64, 256), "float32"))
        np.testing.assert_array_equal(np.asarray(scope.find_var("w").value), np.ones((64, 256), "float32"))
        np.testing.assert_array_equal(outs[0], np.full((64, 256), 1.5, "float32"))
        np.testing.assert_array_equal(outs[1], np.full((64, 256), 1.5, "float32"))
        np.testing.assert_array_equal(outs[2], np.full((64, 256), 3.0, "float32"))
        np.testing.assert_array_equal(outs[3], np.full((64, 256), 3.5, "float32"))
