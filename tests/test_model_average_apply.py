"""ModelAverage's apply/restore hooks, their misuse errors, test programs and eager mode
(construction and the window arithmetic are in test_model_average.py)."""

import numpy as np
import pytest

import minigraph as mg
from minigraph.optimizer import ModelAverage, ModelAverageError
from tests.test_model_average import (
    KINDS,
    TABLE,
    bn_network,
    counting_program,
    expected_average,
    persistables,
    train,
    value,
)


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
