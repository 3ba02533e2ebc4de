"""ModelAverage: Paddle's window arithmetic (paddle_behaviour.md 6), apply/restore, and the
deliberate differences (only do_model_average parameters, test programs never accumulate,
misuse raises)."""

import numpy as np
import pytest

import minigraph as mg
from minigraph.ir.operator import OpRole
from minigraph.ops.average import MAX_NUM_ACCUMULATES
from minigraph.ops.registry import get_op
from minigraph.optimizer import ModelAverage, ModelAverageError

KINDS = ("sum_1", "sum_2", "sum_3", "num_accumulates", "old_num_accumulates", "num_updates")

# paddle_behaviour.md 6.4: p_t = t, rate 0.5, min 2, max 4.
# t, sum_1, sum_2, sum_3, num_acc, old_num, num_upd, applied average
TABLE = [
    (1, 1, 0, 0, 1, 0, 1, 1.0),
    (2, 0, 0, 3, 0, 2, 2, 1.5),
    (3, 3, 0, 3, 1, 2, 3, 2.0),
    (4, 0, 0, 7, 0, 2, 4, 3.5),
    (5, 5, 0, 7, 1, 2, 5, 4.0),
    (6, 11, 0, 7, 2, 2, 6, 4.5),
    (7, 0, 0, 18, 0, 3, 7, 6.0),
    (8, 8, 0, 18, 1, 3, 8, 6.5),
    (9, 17, 0, 18, 2, 3, 9, 7.0),
    (10, 27, 0, 18, 3, 3, 10, 7.5),
    (11, 0, 0, 38, 0, 4, 11, 9.5),
    (12, 12, 0, 38, 1, 4, 12, 10.0),
    (13, 25, 0, 38, 2, 4, 13, 10.5),
    (14, 39, 0, 38, 3, 4, 14, 11.0),
    (15, 0, 0, 54, 0, 4, 15, 13.5),
]


def value(scope, name):
    return np.array(scope.find_var(name).get_tensor())


def counting_program(rate=0.5, min_window=2, max_window=4, dtype="float32"):
    """p starts at 0 and rises by exactly 1 per run: SGD lr 1 on -mean(p)."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        p = mg.create_parameter([1], dtype, name="p", default_initializer=mg.initializer.Constant(0.0))
        loss = mg.layers.scale(mg.layers.mean(p), scale=-1.0)
        mg.optimizer.SGD(1.0).minimize(loss)
        ma = ModelAverage(rate, min_average_window=min_window, max_average_window=max_window)
    return main, startup, ma


def bn_network(do_average_stats=True, seed=0):
    """fc -> batch_norm -> relu -> fc, Momentum, then ModelAverage; plus a parameter that opts out."""
    main, startup = mg.Program(), mg.Program()
    startup.random_seed = seed
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 6], dtype="float32")
        label = mg.data("label", shape=[None, 1], dtype="int64")
        h = mg.layers.fc(x, size=5)
        h = mg.layers.batch_norm(h, act="relu", do_model_average_for_mean_and_var=do_average_stats)
        logits = mg.layers.fc(h, size=3, bias_attr=mg.ParamAttr(do_model_average=False))
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        test_prog = main.clone(for_test=True)
        mg.optimizer.Momentum(0.1, momentum=0.9).minimize(loss)
        ma = ModelAverage(0.5, min_average_window=2, max_average_window=3)
    return {"main": main, "startup": startup, "test": test_prog, "logits": logits, "ma": ma}


def train(net, steps=7, seed=0):
    rng = np.random.default_rng(seed)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(net["startup"], scope=scope)
    for _ in range(steps):
        feed = {"x": rng.normal(size=(8, 6)).astype("float32"), "label": rng.integers(0, 3, size=(8, 1))}
        exe.run(net["main"], feed=feed, scope=scope)
    return exe, scope


def persistables(program, scope):
    return {v.name: value(scope, v.name) for v in program.list_vars() if v.persistable}


def expected_average(scope, ma, param):
    """Paddle's apply: float32(sum_1+sum_2+sum_3) / float32(num_acc+old_num_acc) for float32."""
    acc = {k: value(scope, ma.accumulator(k, param).name) for k in KINDS}
    dtype = acc["sum_1"].dtype
    total = (acc["sum_1"] + acc["sum_2"] + acc["sum_3"]).astype(dtype)
    count = (acc["num_accumulates"] + acc["old_num_accumulates"]).astype(dtype)
    return total / count


# --- construction ------------------------------------------------------------------------------


def test_accumulators_have_paddles_names_shapes_and_zero_init():
    main, startup, ma = counting_program()
    block = main.global_block()
    like_p = {"sum_1", "sum_2", "sum_3", "restore"}
    for kind in ("sum_1", "sum_2", "sum_3", "restore", "num_accumulates", "old_num_accumulates", "num_updates"):
        v = block.var(f"p_{kind}_0")
        assert v is ma.accumulator(kind, "p")
        assert v.persistable
        if kind in like_p:
            assert (tuple(v.shape), v.dtype) == ((1,), "float32")
        else:
            assert (tuple(v.shape), v.dtype) == ((1,), "int64")
    fills = {op.output("Out")[0]: op for op in startup.global_block().ops if op.type == "fill_constant"}
    for kind in KINDS + ("restore",):
        op = fills[f"p_{kind}_0"]
        assert op.attr("value") == 0.0
    scope = mg.Scope()
    mg.Executor().run(startup, scope=scope)
    assert value(scope, "p_num_updates_0").dtype == np.int64
    assert value(scope, "p_num_updates_0").tolist() == [0]


def test_one_average_op_per_parameter_after_the_update_ops():
    net = bn_network()
    ops = net["main"].global_block().ops
    avg_ops = [op for op in ops if op.type == "average_accumulates"]
    averaged = [p.name for p in net["ma"].averaged_parameters]
    assert [op.input("param")[0] for op in avg_ops] == averaged
    last_update = max(i for i, op in enumerate(ops) if op.type == "momentum")
    assert all(ops.index(op) > last_update for op in avg_ops)
    assert ops[-len(avg_ops) :] == avg_ops
    op = avg_ops[0]
    for slot in ("sum_1", "sum_2", "sum_3", "num_accumulates", "old_num_accumulates", "num_updates"):
        assert op.output(f"out_{slot}") == op.input(f"in_{slot}")  # updated in place
    assert op.role == OpRole.OPTIMIZE
    assert op.attr("average_window") == 0.5 and isinstance(op.attr("average_window"), float)
    assert (op.attr("min_average_window"), op.attr("max_average_window")) == (2, 3)
    assert isinstance(op.attr("min_average_window"), int)
    assert get_op("average_accumulates").no_grad


def test_averaged_set_follows_do_model_average():
    with_stats = [p.name for p in bn_network(True)["ma"].averaged_parameters]
    without = [p.name for p in bn_network(False)["ma"].averaged_parameters]
    assert with_stats == [
        "fc_0.w_0",
        "fc_0.b_0",
        "batch_norm_0.w_0",
        "batch_norm_0.b_0",
        "batch_norm_0.w_1",
        "batch_norm_0.w_2",
        "fc_1.w_0",
    ]
    assert without == ["fc_0.w_0", "fc_0.b_0", "batch_norm_0.w_0", "batch_norm_0.b_0", "fc_1.w_0"]
    block = bn_network(False)["main"].global_block()
    assert not block.has_var("fc_1.b_0_sum_1_0")  # do_model_average=False: no accumulators
    assert not block.has_var("batch_norm_0.w_1_sum_1_0")


def test_parameter_list_restricts_the_set():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 3])
        h = mg.layers.fc(x, size=2)
        mg.optimizer.SGD(0.1).minimize(mg.layers.mean(h))
        w = main.global_block().var("fc_0.w_0")
        ma = ModelAverage(0.5, parameter_list=[w])
        assert [p.name for p in ma.averaged_parameters] == ["fc_0.w_0"]
        assert [p.name for p in ModelAverage(0.5, parameter_list=["fc_0.b_0"]).averaged_parameters] == ["fc_0.b_0"]


def test_min_window_above_max_raises_at_construction():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        mg.create_parameter([2], "float32", name="p")
        with pytest.raises(ValueError, match=r"min_average_window \(5\).*max_average_window \(4\)"):
            ModelAverage(0.5, min_average_window=5, max_average_window=4)
        assert not any(op.type == "average_accumulates" for op in main.global_block().ops)


def test_no_parameter_to_average_raises():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        with pytest.raises(mg.GraphBuildError, match="no parameter to average"):
            ModelAverage(0.5)


# --- the window algorithm ----------------------------------------------------------------------


def test_reference_trajectory_row_by_row():
    main, startup, ma = counting_program()
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    for t, s1, s2, s3, n_acc, old, n_upd, avg in TABLE:
        exe.run(main, scope=scope)
        assert value(scope, "p").tolist() == [float(t)]
        got = [value(scope, f"p_{k}_0").item() for k in KINDS]
        assert got == [s1, s2, s3, n_acc, old, n_upd], f"t={t}"
        with ma.apply(exe, scope=scope):
            assert value(scope, "p").tolist() == [avg], f"t={t}"
        assert value(scope, "p").tolist() == [float(t)]
        if t == 7:
            # int(7 * 0.5) = 3, not 3.5: three accumulated steps already roll the window over
            assert (got[3], got[4]) == (0, 3)


def test_fold_into_sum_2_every_16384_updates():
    """Driven through the registered kernel (a program run per step would be slow)."""
    kernel = get_op("average_accumulates").kernel
    attrs = {"average_window": 1.0, "min_average_window": 100000, "max_average_window": 100000}
    state = [np.zeros(1), np.zeros(1), np.zeros(1), *(np.zeros(1, "int64") for _ in range(3))]
    for t in range(1, 16391):
        state = list(kernel(attrs, np.array([float(t)]), *state))
        if t == MAX_NUM_ACCUMULATES:
            assert state[0].tolist() == [0.0]
            assert state[1].tolist() == [16384 * 16385 / 2]
        if t == MAX_NUM_ACCUMULATES + 1:
            assert state[0].tolist() == [16385.0]  # sum_1 restarts with the current value
            assert state[1].tolist() == [16384 * 16385 / 2]
    s1, s2, s3, n_acc, old, n_upd = state
    assert s1.tolist() == [sum(range(16385, 16391))]
    assert (s2.tolist(), s3.tolist()) == ([16384 * 16385 / 2], [0.0])
    assert (n_acc.tolist(), old.tolist(), n_upd.tolist()) == ([16390], [0], [16390])

    # apply() of that state averages all 16390 steps
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        mg.create_parameter([1], "float64", name="q")
        ma = ModelAverage(1.0, min_average_window=100000, max_average_window=100000)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    for kind, arr in zip(KINDS, state):
        scope.var(f"q_{kind}_0").set(arr)
    with ma.apply(exe, scope=scope):
        assert value(scope, "q").tolist() == [(16390 + 1) / 2]


def test_two_element_parameter_end_state():
    """paddle_behaviour.md 6.4's second run: its exact inputs were not recorded, so these
    inputs (SGD lr 0.5 on sum(x*w), x cycling [1,3], [2,2], [1,1], [-1,-1]) are built to end
    where Paddle's run ended: w = [-6.5, -10.5], averaged [-5.5, -9.25]."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[2])
        w = mg.create_parameter([2], "float32", name="w", default_initializer=mg.initializer.Constant(0.0))
        loss = mg.layers.reduce_sum(x * w)
        mg.optimizer.SGD(0.5).minimize(loss)
        ma = ModelAverage(0.5, min_average_window=2, max_average_window=4)
    xs = np.array([[1, 3], [2, 2], [1, 1], [-1, -1]], "float32")
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    for t in range(15):
        exe.run(main, feed={"x": xs[t % 4]}, scope=scope)
    assert value(scope, "w").tolist() == [-6.5, -10.5]
    with ma.apply(exe, scope=scope):
        assert value(scope, "w").tolist() == [-5.5, -9.25]
    assert value(scope, "w").tolist() == [-6.5, -10.5]


# --- apply / restore ---------------------------------------------------------------------------


@pytest.mark.parametrize("average_stats", [True, False])
def test_apply_sets_the_average_and_restores_bit_for_bit(average_stats):
    net = bn_network(average_stats)
    ma, main = net["ma"], net["main"]
    exe, scope = train(net)
    before = persistables(main, scope)
    averaged = {p.name for p in ma.averaged_parameters}
    with ma.apply(exe, scope=scope):
        for p in main.all_parameters():
            got = value(scope, p.name)
            if p.name in averaged:
                np.testing.assert_array_equal(got, expected_average(scope, ma, p), err_msg=p.name)
                assert not np.array_equal(got, before[p.name]), p.name  # training moved it
            else:
                np.testing.assert_array_equal(got, before[p.name], err_msg=p.name)  # untouched
            assert got.dtype == np.float32
    after = persistables(main, scope)
    for name, arr in before.items():
        if "_restore_" in name:
            continue
        assert arr.dtype == after[name].dtype and np.array_equal(arr, after[name]), name
    stats = {"batch_norm_0.w_1", "batch_norm_0.w_2"}
    assert (stats <= averaged) == average_stats
    assert "fc_1.b_0" not in averaged


def test_apply_is_float32_like_paddle_and_float64_stays_float64():
    for dtype in ("float32", "float64"):
        main, startup, ma = counting_program(dtype=dtype)
        exe, scope = mg.Executor(), mg.Scope()
        exe.run(startup, scope=scope)
        exe.run(main, scope=scope)
        # a sum whose float32 quotient differs from the float64 one
        scope.var("p_sum_1_0").set(np.array([0.1], dtype))
        scope.var("p_num_accumulates_0").set(np.array([3], "int64"))
        with ma.apply(exe, scope=scope):
            got = value(scope, "p")
            assert got.dtype == np.dtype(dtype)
            want = np.array([0.1], dtype) / np.array([3.0], dtype)
            assert got.tolist() == want.tolist()


def test_apply_without_restore_then_restore():
    net = bn_network()
    ma = net["ma"]
    exe, scope = train(net)
    trained = persistables(net["main"], scope)
    ma.apply(exe, need_restore=False, scope=scope)  # takes effect without a with-block
    w = value(scope, "fc_0.w_0")
    np.testing.assert_array_equal(w, expected_average(scope, ma, "fc_0.w_0"))
    exe.run(net["test"], feed={"x": np.ones((2, 6), "float32"), "label": np.zeros((2, 1), "int64")}, scope=scope)
    assert np.array_equal(value(scope, "fc_0.w_0"), w)  # still averaged
    ma.restore(exe, scope=scope)
    assert np.array_equal(value(scope, "fc_0.w_0"), trained["fc_0.w_0"])
    with ma.apply(exe, need_restore=False, scope=scope):
        pass
    assert np.array_equal(value(scope, "fc_0.w_0"), w)  # need_restore=False: exit keeps the average
    ma.restore(exe, scope=scope)
    assert np.array_equal(value(scope, "fc_0.w_0"), trained["fc_0.w_0"])


def test_apply_uses_the_global_scope_by_default():
    main, startup, ma = counting_program()
    exe, scope = mg.Executor(), mg.Scope()
    with mg.scope_guard(scope):
        exe.run(startup)
        for _ in range(3):
            exe.run(main)
        with ma.apply(exe):
            assert value(mg.global_scope(), "p").tolist() == [2.0]
        assert value(scope, "p").tolist() == [3.0]


def test_restore_when_the_block_raises():
    main, startup, ma = counting_program()
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    for _ in range(3):
        exe.run(main, scope=scope)
    with pytest.raises(KeyError, match="boom"):
        with ma.apply(exe, scope=scope):
            assert value(scope, "p").tolist() == [2.0]
            raise KeyError("boom")
    assert value(scope, "p").tolist() == [3.0]
    with ma.apply(exe, scope=scope):  # usable again afterwards
        ma.restore(exe, scope=scope)  # an explicit restore inside the block is fine too
    assert value(scope, "p").tolist() == [3.0]


# --- misuse ------------------------------------------------------------------------------------


def test_apply_before_any_accumulation_raises():
    main, startup, ma = counting_program()
    exe, scope = mg.Executor(), mg.Scope()
    with pytest.raises(ModelAverageError, match="no value in this scope"):
        ma.apply(exe, scope=scope)  # startup not run
    exe.run(startup, scope=scope)
    with pytest.raises(ModelAverageError, match=r"nothing accumulated yet for \['p'\].*NaN"):
        with ma.apply(exe, scope=scope):
            pass
    assert value(scope, "p").tolist() == [0.0]


def test_apply_twice_without_restore_raises_and_keeps_the_trained_weights():
    main, startup, ma = counting_program()
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    for _ in range(3):
        exe.run(main, scope=scope)
    with ma.apply(exe, scope=scope):
        with pytest.raises(ModelAverageError, match="already applied"):
            ma.apply(exe, scope=scope)
        assert value(scope, "p").tolist() == [2.0]
    assert value(scope, "p").tolist() == [3.0]  # Paddle would have lost the trained 3.0


def test_restore_with_nothing_applied_raises():
    main, startup, ma = counting_program()
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    exe.run(main, scope=scope)
    with pytest.raises(ModelAverageError, match="nothing to restore"):
        ma.restore(exe, scope=scope)
    with ma.apply(exe, scope=scope):
        pass
    with pytest.raises(ModelAverageError, match="nothing to restore"):
        ma.restore(exe, scope=scope)  # the with-block already restored
    assert value(scope, "p").tolist() == [1.0]


def test_executor_is_required():
    main, startup, ma = counting_program()
    with pytest.raises(ModelAverageError, match="needs the executor"):
        ma.apply(None)
    with pytest.raises(ModelAverageError, match="needs the executor"):
        ma.restore(None)
    assert issubclass(ModelAverageError, RuntimeError) and issubclass(ModelAverageError, mg.MinigraphError)


def test_step_is_for_dygraph_and_static_minimize_does_nothing():
    main, startup, ma = counting_program()
    n = len(main.global_block().ops)
    assert ma.minimize(None) is None
    assert len(main.global_block().ops) == n
    with pytest.raises(ModelAverageError, match="dygraph"):
        ma.step()


# --- test programs -----------------------------------------------------------------------------


def test_clone_for_test_drops_the_accumulation_and_changes_no_persistable():
    net = bn_network()
    exe, scope = train(net, steps=3)
    test_after = net["main"].clone(for_test=True)
    for prog in (test_after, net["test"]):
        assert not any(op.type == "average_accumulates" for op in prog.global_block().ops)
    before = {n: np.array(scope.find_var(n).get_tensor()) for n in scope.local_var_names()}
    x = np.random.default_rng(5).normal(size=(4, 6)).astype("float32")
    feed = {"x": x, "label": np.zeros((4, 1), "int64")}
    exe.run(test_after, feed=feed, fetch_list=[net["logits"]], scope=scope)
    with net["ma"].apply(exe, scope=scope):
        applied = {n: np.array(scope.find_var(n).get_tensor()) for n in scope.local_var_names()}
        exe.run(test_after, feed=feed, fetch_list=[net["logits"]], scope=scope)
        for n, arr in applied.items():
            assert np.array_equal(arr, value(scope, n)), n
    for n, arr in before.items():
        if "_restore_" not in n:
            assert np.array_equal(arr, value(scope, n)), n


# --- dygraph -----------------------------------------------------------------------------------


def test_eager_trajectory_matches_the_table():
    with mg.dygraph.guard():
        lin = mg.nn.Linear(1, 1, param_attr=mg.ParamAttr(initializer=mg.initializer.Constant(0.0)), bias_attr=False)
        opt = mg.optimizer.SGD(1.0, parameter_list=lin.parameters())
        ma = ModelAverage(0.5, min_average_window=2, max_average_window=4, parameter_list=lin.parameters())
        w = lin.weight
        assert ma.accumulator("sum_1", w).name == f"{w.name}_sum_1_0"
        with pytest.raises(ModelAverageError, match="nothing accumulated"):
            ma.apply()
        for t, s1, s2, s3, n_acc, old, n_upd, avg in TABLE:
            loss = mg.layers.scale(mg.layers.mean(w), scale=-1.0)
            loss.backward()
            opt.minimize(loss)
            lin.clear_gradients()
            if t % 2:
                ma.step()
            else:
                ma.minimize(loss)  # Paddle's dygraph spelling, same effect
            got = [ma.accumulator(k, w).numpy().item() for k in KINDS]
            assert got == [s1, s2, s3, n_acc, old, n_upd], f"t={t}"
            with ma.apply():
                assert w.numpy().item() == avg
                with pytest.raises(ModelAverageError, match="already applied"):
                    ma.apply()
            assert w.numpy().item() == float(t)
        with pytest.raises(ModelAverageError, match="nothing to restore"):
            ma.restore()
        ma.apply(need_restore=False)
    assert w.numpy().item() == 13.5
    ma.restore()  # works after the guard ended
    assert w.numpy().item() == 15.0


def test_eager_needs_a_parameter_list():
    with mg.dygraph.guard():
        with pytest.raises(ValueError, match="parameter_list"):
            ModelAverage(0.5)


def test_eager_averages_like_static():
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(6, 4, 3)).astype("float32")
    ys = rng.normal(size=(6, 4, 2)).astype("float32")
    with mg.dygraph.guard(seed=1):
        lin = mg.nn.Linear(3, 2, bias_attr=mg.ParamAttr(do_model_average=False))
        init = {k: np.array(v) for k, v in lin.state_dict().items()}
        opt = mg.optimizer.SGD(0.1, parameter_list=lin.parameters())
        ma = ModelAverage(0.5, min_average_window=2, max_average_window=3, parameter_list=lin.parameters())
        assert [p.name for p in ma.averaged_parameters] == [lin.weight.name]
        for x, y in zip(xs, ys):
            d = lin(mg.dygraph.to_variable(x)) - mg.dygraph.to_variable(y)
            loss = mg.layers.mean(d * d)
            loss.backward()
            opt.minimize(loss)
            lin.clear_gradients()
            ma.step()
        trained = {k: np.array(v) for k, v in lin.state_dict().items()}
        with ma.apply():
            eager_avg = {k: np.array(v) for k, v in lin.state_dict().items()}
        assert all(np.array_equal(trained[k], np.array(v)) for k, v in lin.state_dict().items())

    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 3])
        y = mg.data("y", shape=[None, 2])
        pred = mg.layers.fc(x, size=2, bias_attr=mg.ParamAttr(do_model_average=False))
        d = pred - y
        mg.optimizer.SGD(0.1).minimize(mg.layers.mean(d * d))
        ma_static = ModelAverage(0.5, min_average_window=2, max_average_window=3)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    w_name, b_name = "fc_0.w_0", "fc_0.b_0"
    eager_w, eager_b = lin.weight.name, lin.bias.name
    scope.var(w_name).set(init[eager_w])
    scope.var(b_name).set(init[eager_b])
    for xb, yb in zip(xs, ys):
        exe.run(main, feed={"x": xb, "y": yb}, scope=scope)
    np.testing.assert_allclose(value(scope, w_name), trained[eager_w], rtol=1e-6, atol=1e-7)
    static_b = value(scope, b_name)
    with ma_static.apply(exe, scope=scope):
        np.testing.assert_allclose(value(scope, w_name), eager_avg[eager_w], rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(value(scope, b_name), static_b)
    np.testing.assert_array_equal(eager_avg[eager_b], trained[eager_b])  # opted out: untouched


def test_parameters_of_another_program_are_refused():
    main, startup, _ = counting_program()
    other = main.global_block().var("p")
    with mg.program_guard(mg.Program(), mg.Program()):
        with pytest.raises(mg.GraphBuildError, match="another program"):
            ModelAverage(0.5, parameter_list=iter([other]))


def test_zero_d_parameter_keeps_its_shape():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        s = mg.create_parameter([], "float32", name="s", default_initializer=mg.initializer.Constant(0.0))
        mg.optimizer.SGD(1.0).minimize(mg.layers.scale(s, scale=-1.0))
        ma = ModelAverage(0.5, min_average_window=2, max_average_window=4)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    for _ in range(3):
        exe.run(main, scope=scope)
    with ma.apply(exe, scope=scope):
        got = value(scope, "s")
        assert got.shape == () and got.item() == 2.0
    assert value(scope, "s").shape == () and value(scope, "s").item() == 3.0
