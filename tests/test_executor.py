"""Executor and Scope: feeds, fetches, persistables, plan caching, errors."""

import numpy as np
import pytest

import minigraph as mg
from minigraph.initializer import Constant


def build():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 3], dtype="float32")
        label = mg.data("label", shape=[None, 1], dtype="int64")
        h = mg.layers.fc(x, size=2, param_attr=mg.ParamAttr(initializer=Constant(0.5)))
        loss = mg.layers.mean(h)
    return main, startup, x, label, h, loss


def feed(n=2):
    return {"x": np.ones((n, 3), "float32"), "label": np.zeros((n, 1), "int64")}


def test_startup_fills_scope_with_persistables_only_and_temporaries_vanish():
    main, startup, *_, loss = build()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    assert sorted(scope.local_var_names()) == ["fc_0.b_0", "fc_0.w_0"]
    (value,) = exe.run(main, feed=feed(), fetch_list=[loss], scope=scope)
    assert value.shape == () and value == pytest.approx(1.5)
    assert sorted(scope.local_var_names()) == ["fc_0.b_0", "fc_0.w_0"]
    assert scope.find_var("fc_0.tmp_0") is None


def test_feed_keys_may_be_variables_and_fetch_names_or_variables():
    main, startup, x, label, h, loss = build()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    a, b = exe.run(
        main, feed={x: np.ones((2, 3)), label: np.zeros((2, 1), "int64")}, fetch_list=[h, "mean_0.tmp_0"], scope=scope
    )
    np.testing.assert_allclose(a, np.full((2, 2), 1.5))
    assert b == pytest.approx(1.5)
    assert exe.run(main, feed=feed(), scope=scope) == []
    (single,) = exe.run(main, feed=feed(), fetch_list=loss, scope=scope)
    assert single == pytest.approx(1.5)


def test_fetches_are_copies():
    main, startup, *_ = build()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    (w,) = exe.run(main, feed=feed(), fetch_list=["fc_0.w_0"], scope=scope)
    w[...] = 99
    assert np.all(np.asarray(scope.find_var("fc_0.w_0").get_tensor()) == 0.5)


@pytest.mark.parametrize(
    "bad_feed, message",
    [
        ({"label": np.zeros((2, 1), "int64")}, r"variable 'x' is not fed"),
        ({**feed(), "xx": np.ones(3)}, r"feed 'xx' is not a variable.*did you mean 'x'"),
        ({**feed(), "x": np.ones(3, "float32")}, r"feed 'x': expected rank 2.*\[-1, 3\].*\[3\]"),
        ({**feed(), "x": np.ones((2, 4), "float32")}, r"feed 'x': dimension 1 must be 3"),
        ({**feed(), "label": np.zeros((2, 1), "float32")}, r"feed 'label': dtype float32 cannot be cast.*int64"),
        ({**feed(), "x": np.array([["a", "b", "c"]])}, r"feed 'x': expected numbers"),
    ],
)
def test_bad_feeds_name_the_variable(bad_feed, message):
    main, startup, *_ = build()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    with pytest.raises(mg.FeedError, match=message):
        exe.run(main, feed=bad_feed, fetch_list=["mean_0.tmp_0"], scope=scope)


def test_float64_and_list_feeds_are_cast():
    main, startup, *_, loss = build()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    (a,) = exe.run(main, feed={"x": np.ones((2, 3)), "label": [[0], [1]]}, fetch_list=[loss], scope=scope)
    (b,) = exe.run(main, feed={"x": [[1, 1, 1], [1, 1, 1]], "label": [[0], [1]]}, fetch_list=[loss], scope=scope)
    assert a == b == pytest.approx(1.5)


def test_fetching_unknown_variable_names_it():
    main, startup, *_ = build()
    exe = mg.Executor()
    with pytest.raises(mg.FetchError, match="cannot fetch 'fc_0.tmp_9'.*did you mean"):
        exe.run(main, feed=feed(), fetch_list=["fc_0.tmp_9"], scope=mg.Scope())
    with pytest.raises(KeyError):  # FetchError is a KeyError too
        exe.run(main, feed=feed(), fetch_list=["nope"], scope=mg.Scope())


def test_running_without_startup_names_the_variable_and_suggests_startup():
    main, *_, loss = build()
    with pytest.raises(mg.UninitializedVariableError, match=r"'fc_0.w_0'.*startup"):
        mg.Executor().run(main, feed=feed(), fetch_list=[loss], scope=mg.Scope())


def test_feeding_a_persistable_overwrites_it_in_the_scope():
    main, startup, *_ = build()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    exe.run(main, feed={**feed(), "fc_0.b_0": np.array([1.0, 2.0], "float32")}, scope=scope)
    np.testing.assert_array_equal(scope.find_var("fc_0.b_0").get_tensor(), [1.0, 2.0])


def test_kernel_failure_names_the_op_and_the_user_line():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        a = mg.data("a", [None, 3])
        b = mg.data("b", [None, 3])
        c = a + b  # THIS LINE
    with pytest.raises(mg.ExecutionError) as info:
        mg.Executor().run(main, feed={"a": np.ones((2, 3)), "b": np.ones((4, 3))}, fetch_list=[c], scope=mg.Scope())
    msg = str(info.value)
    assert "elementwise_add(X=a, Y=b)" in msg and "test_executor.py" in msg


def test_scope_parenting_and_guard():
    root = mg.Scope()
    root.var("a").set(np.ones(2))
    kid = root.new_scope()
    kid.var("b").set(np.zeros(1))
    assert kid.find_var("a") is root.find_var("a")
    assert root.find_var("b") is None
    assert kid.local_var_names() == ["b"]
    t = root.find_var("a").get_tensor()
    assert isinstance(t, np.ndarray) and not t.flags.writeable
    with mg.scope_guard(kid):
        assert mg.global_scope() is kid
    assert mg.global_scope() is not kid
    root.drop_kids()


def test_plan_is_compiled_once_and_recompiled_after_a_change():
    main, startup, *_, loss = build()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    exe.run(main, feed=feed(), fetch_list=[loss], scope=scope)
    plans = dict(exe._plans)
    exe.run(main, feed=feed(), fetch_list=[loss], scope=scope)
    assert dict(exe._plans) == plans
    with mg.program_guard(main, startup):
        out = mg.layers.scale(loss, 2.0)
    (v,) = exe.run(main, feed=feed(), fetch_list=[out], scope=scope)
    assert v == pytest.approx(3.0)
    # the new version's plan replaced the old version's, which could never run again
    assert len(exe._plans) == len(plans) and not set(exe._plans) & {k for k in plans if k[0] == main._uid}


def test_failed_run_leaves_scope_unchanged():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3])
        w = mg.create_parameter([3], "float32", name="w", default_initializer=Constant(1.0))
        block = main.global_block()
        block.append_op("scale", {"X": w}, {"Out": w}, {"scale": 2.0})  # w *= 2, in place
        y = mg.data("y", [None, 3])
        z = x + y
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    with pytest.raises(mg.ExecutionError):
        exe.run(main, feed={"x": np.ones((2, 3)), "y": np.ones((5, 3))}, fetch_list=[z], scope=scope)
    np.testing.assert_array_equal(scope.find_var("w").get_tensor(), [1, 1, 1])
    exe.run(main, feed={"x": np.ones((2, 3)), "y": np.ones((2, 3))}, fetch_list=[z], scope=scope)
    np.testing.assert_array_equal(scope.find_var("w").get_tensor(), [2, 2, 2])
