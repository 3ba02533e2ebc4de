"""Reliability: NaN/Inf reporting, thread safety, determinism."""

import threading

import numpy as np
import pytest

import minigraph as mg
from minigraph.initializer import Constant


def test_nan_through_a_feed_is_reported_at_the_feed():
    main = mg.Program()
    with mg.program_guard(main):
        x = mg.data("x", [None, 2])
        y = mg.layers.scale(x, 2.0)
    exe = mg.Executor(check_nan_inf=True)
    with pytest.raises(mg.NonFiniteError, match="feed 'x' contains NaN"):
        exe.run(main, feed={"x": np.array([[1.0, np.nan]])}, fetch_list=[y], scope=mg.Scope())
    # off by default, and per-run override
    (out,) = mg.Executor().run(main, feed={"x": np.array([[1.0, np.nan]])}, fetch_list=[y], scope=mg.Scope())
    assert np.isnan(out[0, 1])


def test_division_by_zero_is_reported_at_the_dividing_op():
    main = mg.Program()
    with mg.program_guard(main):
        a = mg.data("a", [2])
        b = mg.data("b", [2])
        q = mg.layers.elementwise_div(a, b)
        out = mg.layers.scale(q, 3.0)
    with np.errstate(divide="ignore"):
        with pytest.raises(mg.NonFiniteError) as info:
            mg.Executor().run(
                main,
                feed={"a": np.ones(2), "b": np.array([1.0, 0.0])},
                fetch_list=[out],
                scope=mg.Scope(),
                check_nan_inf=True,
            )
    msg = str(info.value)
    assert "elementwise_div(X=a, Y=b)" in msg and "Out='elementwise_div_0.tmp_0'" in msg
    assert "Inf" in msg and "this op produced them" in msg


def test_infinite_learning_rate_is_reported_at_the_optimizer_op():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 2])
        y = mg.layers.fc(x, 1, param_attr=mg.ParamAttr(initializer=Constant(0.5)))
        loss = mg.layers.mean(y)
        mg.optimizer.SGD(float("inf")).minimize(loss)
    scope, exe = mg.Scope(), mg.Executor(check_nan_inf=True)
    exe.run(startup, scope=scope, check_nan_inf=False)  # the startup itself writes the Inf rate
    before = np.array(scope.find_var("fc_0.w_0").get_tensor())
    with pytest.raises(mg.NonFiniteError) as info:
        exe.run(main, feed={"x": np.ones((2, 2))}, fetch_list=[loss], scope=scope)
    msg = str(info.value)
    assert "= sgd(Param=fc_0.b_0" in msg and "ParamOut='fc_0.b_0'" in msg  # the first update, by name
    assert "input 'learning_rate_0' already carried" in msg
    np.testing.assert_array_equal(scope.find_var("fc_0.w_0").get_tensor(), before)  # scope untouched


def test_skip_list_lets_an_op_through():
    main = mg.Program()
    with mg.program_guard(main):
        a = mg.data("a", [2])
        q = mg.layers.log(a)
    exe = mg.Executor(check_nan_inf=True, nan_inf_skip_ops=["log"])
    with np.errstate(divide="ignore"):
        (out,) = exe.run(main, feed={"a": np.array([0.0, 1.0])}, fetch_list=[q], scope=mg.Scope())
    assert np.isinf(out[0])


def _digits_mlp(seed=3):
    main, startup = mg.Program(), mg.Program()
    startup.random_seed = seed
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 64])
        label = mg.data("label", [None, 1], "int64")
        h = mg.layers.fc(x, 32, act="relu")
        logits = mg.layers.fc(h, 10)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        mg.optimizer.Momentum(0.05, 0.9).minimize(loss)
    return main, startup, loss


def _batches(n=200):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16).astype("float32")
    y = d.target.reshape(-1, 1).astype("int64")
    return [(x[(i * 16) % 1700 : (i * 16) % 1700 + 16], y[(i * 16) % 1700 : (i * 16) % 1700 + 16]) for i in range(n)]


def test_two_threads_two_scopes_equal_sequential_runs():
    main, startup, loss = _digits_mlp()
    batches = _batches(200)
    exe = mg.Executor()

    def train(scope, out):
        exe.run(startup, scope=scope)
        for xb, yb in batches:
            out.append(float(exe.run(main, feed={"x": xb, "label": yb}, fetch_list=[loss], scope=scope)[0]))

    sequential = []
    train(mg.Scope(), sequential)
    results = [[], []]
    scopes = [mg.Scope(), mg.Scope()]
    threads = [threading.Thread(target=train, args=(scopes[i], results[i])) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == sequential and results[1] == sequential
    w = [np.array(s.find_var("fc_0.w_0").get_tensor()) for s in scopes]
    np.testing.assert_array_equal(w[0], w[1])


def test_program_guard_is_per_thread():
    seen = {}
    barrier = threading.Barrier(2)

    def build(name):
        prog = mg.Program()
        with mg.program_guard(prog):
            barrier.wait()
            mg.data(f"in_{name}", [2])
            barrier.wait()
            seen[name] = (mg.default_main_program() is prog, list(prog.global_block().vars))

    threads = [threading.Thread(target=build, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"a": (True, ["in_a"]), "b": (True, ["in_b"])}


def test_identical_seeds_give_bit_identical_static_training():
    def run(seed):
        main, startup, loss = _digits_mlp(seed)
        scope, exe = mg.Scope(), mg.Executor()
        exe.run(startup, scope=scope)
        for xb, yb in _batches(20):
            exe.run(main, feed={"x": xb, "label": yb}, fetch_list=[loss], scope=scope)
        return {p.name: np.array(scope.find_var(p.name).get_tensor()) for p in main.all_parameters()}

    a, b, c = run(11), run(11), run(12)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)
