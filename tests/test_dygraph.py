"""Eager mode: the seed example, train/eval, gradients, optimizers, state dicts, tracing."""

import numpy as np
import pytest

import minigraph as mg
from minigraph import jit

RNG = np.random.default_rng(0)
XBN = RNG.random((3, 10, 3, 7)).astype("float32")


def test_seed_example_matches_static_mode():
    with mg.dygraph.guard():
        x = mg.dygraph.to_variable(XBN)
        bn = mg.nn.BatchNorm(10)
        y = bn(x)
        eager = (y.numpy(), bn.moving_mean.numpy(), bn.moving_variance.numpy())
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        xs = mg.data("x", [None, 10, 3, 7])
        sbn = mg.nn.BatchNorm(10)
        ys = sbn(xs)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    static = exe.run(main, feed={"x": XBN}, fetch_list=[ys, sbn.moving_mean, sbn.moving_variance], scope=scope)
    for e, s in zip(eager, static):
        np.testing.assert_array_equal(e, s)
    assert not np.allclose(eager[1], 0) and not np.allclose(eager[2], 1)  # the statistics moved


def test_eval_switches_to_running_statistics_and_stops_updates():
    with mg.dygraph.guard():
        x = mg.dygraph.to_variable(XBN)
        bn = mg.nn.BatchNorm(10)
        bn(x)
        mean, var = bn.moving_mean.numpy(), bn.moving_variance.numpy()
        bn.eval()
        y = bn(x).numpy()
        np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)
        np.testing.assert_array_equal(bn.moving_variance.numpy(), var)
        expected = (XBN - mean.reshape(1, -1, 1, 1)) / np.sqrt(var.reshape(1, -1, 1, 1) + 1e-5)
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
        bn.train()
        bn(x)
        assert not np.array_equal(bn.moving_mean.numpy(), mean)


def test_trainable_statistics_eval_uses_batch_statistics_with_consistent_gradient():
    xv = RNG.normal(size=(4, 3, 2, 2))
    with mg.dygraph.guard():
        bn = mg.nn.BatchNorm(3, trainable_statistics=True, dtype="float64")
        bn.eval()
        x = mg.dygraph.to_variable(xv)
        x.stop_gradient = False
        y = bn(x)
        mu = xv.mean(axis=(0, 2, 3), keepdims=True)
        sd = np.sqrt(xv.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
        np.testing.assert_allclose(y.numpy(), (xv - mu) / sd, rtol=1e-10)
        w = RNG.normal(size=xv.shape)
        mg.layers.mean(y * mg.dygraph.to_variable(w)).backward()
        # batch-formula gradient of mean(w * xhat)
        dy = w / w.size
        xhat = (xv - mu) / sd
        m = xv.size / 3
        dx = (
            dy - dy.sum(axis=(0, 2, 3), keepdims=True) / m - xhat * (dy * xhat).sum(axis=(0, 2, 3), keepdims=True) / m
        ) / sd
        np.testing.assert_allclose(x.gradient(), dx, rtol=1e-8, atol=1e-12)


def test_backward_accumulates_and_clear_gradient_resets():
    with mg.dygraph.guard():
        x = mg.dygraph.to_variable(np.array([1.0, 2.0, 3.0]))
        x.stop_gradient = False
        y = x * x + x  # x used twice: contributions sum
        mg.layers.reduce_sum(y).backward()
        np.testing.assert_allclose(x.gradient(), 2 * np.array([1.0, 2.0, 3.0]) + 1)
        mg.layers.reduce_sum(x * 3.0).backward()
        np.testing.assert_allclose(x.gradient(), 2 * np.array([1.0, 2.0, 3.0]) + 4)
        x.clear_gradient()
        assert x.gradient() is None


def test_no_grad_records_nothing():
    with mg.dygraph.guard():
        x = mg.dygraph.to_variable(np.ones(3))
        x.stop_gradient = False
        with mg.dygraph.no_grad():
            y = x * 2.0
        assert y.stop_gradient
        with pytest.raises(mg.GraphBuildError, match="does not depend"):
            mg.layers.reduce_sum(y).backward()
    assert not mg.dygraph.enabled()


def test_to_variable_and_numpy_are_copies():
    arr = np.ones(3, "float32")
    with mg.dygraph.guard():
        v = mg.dygraph.to_variable(arr)
        arr[0] = 5
        out = v.numpy()
        out[1] = 7
        np.testing.assert_array_equal(v.numpy(), [1, 1, 1])
        assert v.shape == (3,) and v.dtype == "float32" and v.stop_gradient


def _mlp(dtype="float64"):
    return mg.nn.Sequential(mg.nn.Linear(5, 4, act="tanh", dtype=dtype), mg.nn.Linear(4, 2, dtype=dtype))


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_ten_steps_eager_equal_static(kind):
    x = RNG.normal(size=(8, 5))
    y = RNG.normal(size=(8, 2))

    def optimizer(params=None):
        if kind == "sgd":
            return mg.optimizer.SGD(0.1, parameter_list=params, regularization=mg.regularizer.L2Decay(0.01))
        if kind == "momentum":
            return mg.optimizer.Momentum(
                0.1, 0.9, use_nesterov=True, parameter_list=params, grad_clip=mg.clip.GradientClipByGlobalNorm(0.5)
            )
        return mg.optimizer.Adam(0.05, parameter_list=params)

    with mg.dygraph.guard(seed=3):
        net = _mlp()
        init = net.state_dict()
        opt = optimizer(net.parameters())
        eager_losses = []
        for _ in range(10):
            d = net(mg.dygraph.to_variable(x)) - mg.dygraph.to_variable(y)
            loss = mg.layers.mean(d * d)
            loss.backward()
            opt.minimize(loss)
            net.clear_gradients()
            eager_losses.append(float(loss.numpy()))
        eager_state = net.state_dict()
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        xs = mg.data("x", [None, 5], "float64")
        ys = mg.data("y", [None, 2], "float64")
        snet = _mlp()
        d = snet(xs) - ys
        loss = mg.layers.mean(d * d)
        optimizer().minimize(loss)
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    snet.set_state_dict(init, scope=scope)  # the same keys in both modes
    static_losses = [float(exe.run(main, feed={"x": x, "y": y}, fetch_list=[loss], scope=scope)[0]) for _ in range(10)]
    np.testing.assert_allclose(eager_losses, static_losses, rtol=0, atol=1e-10)
    static_state = snet.state_dict(scope=scope)
    assert set(static_state) == set(eager_state)
    for name in eager_state:
        np.testing.assert_allclose(eager_state[name], static_state[name], rtol=0, atol=1e-10)
    assert eager_losses[-1] < eager_losses[0]


def test_identical_seeds_give_identical_eager_runs():
    def run(seed):
        with mg.dygraph.guard(seed=seed):
            net = _mlp("float32")
            opt = mg.optimizer.SGD(0.1, parameter_list=net.parameters())
            x = mg.dygraph.to_variable(RNG_FIXED)
            for _ in range(20):
                loss = mg.layers.mean(net(x) * net(x))
                loss.backward()
                opt.minimize(loss)
                net.clear_gradients()
            return net.state_dict()

    a, b, c = run(7), run(7), run(8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


RNG_FIXED = np.random.default_rng(42).normal(size=(6, 5)).astype("float32")


class SmallCNN(mg.nn.Layer):
    def __init__(self):
        super().__init__()
        self.conv = mg.nn.Conv2D(1, 4, 3, padding=1)
        self.bn = mg.nn.BatchNorm(4, act="relu")
        self.pool = mg.nn.Pool2D(2, "max", 2)
        self.fc = mg.nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        h = self.pool(self.bn(self.conv(x)))
        return self.fc(mg.layers.flatten(h, 1))


def test_traced_program_reproduces_eval_output_and_survives_save_load(tmp_path):
    x = RNG.normal(size=(5, 1, 8, 8)).astype("float32")
    with mg.dygraph.guard(seed=1):
        net = SmallCNN()
        opt = mg.optimizer.Momentum(0.05, 0.9, parameter_list=net.parameters())
        for _ in range(3):
            loss = mg.layers.mean(net(mg.dygraph.to_variable(x)))
            loss.backward()
            opt.minimize(loss)
            net.clear_gradients()
        net.eval()
        want = net(mg.dygraph.to_variable(x)).numpy()
        net.train()
        traced = jit.trace(net, [x])
        assert net.training  # tracing restores the layer's mode
    exe = mg.Executor()
    run = {"feed": {"x": x}, "fetch_list": traced.fetch_names, "scope": traced.scope}
    (got,) = exe.run(traced.program, build_strategy=mg.BuildStrategy.none(), **run)
    np.testing.assert_array_equal(got, want)
    # the default passes fold the batch_norms into the convs: the same values to float rounding
    (folded,) = exe.run(traced.program, **run)
    np.testing.assert_allclose(folded, want, rtol=1e-5, atol=1e-5)
    bn_ops = [op for op in traced.program.global_block().ops if op.type == "batch_norm"]
    assert bn_ops and all(op.attr("is_test") for op in bn_ops)
    traced.save_inference_model(str(tmp_path / "model"), exe)
    scope = mg.Scope()
    with mg.scope_guard(scope):
        program, feeds, fetches = mg.io.load_inference_model(str(tmp_path / "model"), exe)
        (again,) = exe.run(program, feed={feeds[0]: x}, fetch_list=fetches)
    # the export folds batch_norm into the conv before it: equal to float rounding
    np.testing.assert_allclose(again, want, rtol=1e-5, atol=1e-6)


def test_state_dict_moves_between_modes():
    with mg.dygraph.guard(seed=4):
        net = _mlp("float32")
        state = net.state_dict()
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        snet = _mlp("float32")
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    snet.set_state_dict(state, scope=scope)
    back = snet.state_dict(scope=scope)
    assert list(back) == list(state)
    with mg.dygraph.guard():
        net2 = _mlp("float32")
        net2.set_state_dict(back)
        for k, v in net2.state_dict().items():
            np.testing.assert_array_equal(v, state[k])


def test_every_layer_function_runs_eagerly_and_backpropagates():
    L = mg.layers
    rng = np.random.default_rng(0)
    with mg.dygraph.guard(seed=1):
        x = mg.dygraph.to_variable(rng.normal(size=(4, 3, 6, 6)).astype("float32"))
        v = mg.dygraph.to_variable(rng.normal(size=(4, 5)).astype("float32"))
        x.stop_gradient = v.stop_gradient = False
        lab = mg.dygraph.to_variable(rng.integers(0, 5, (4, 1)))
        outs = {
            "fc": L.fc(v, 3, act="relu"),
            "conv2d": L.conv2d(x, 2, 3, padding=1, act="relu"),
            "pool2d": L.pool2d(x, 2, "avg", 2),
            "batch_norm": L.batch_norm(x, act="relu"),
            "dropout": L.dropout(v, 0.5),
            "sqrt": L.sqrt(L.abs(v)),
            "log": L.log(L.abs(v)),
            "matmul": L.matmul(v, v, transpose_y=True),
            "mean": L.mean(v),
            "reshape": L.reshape(v, [2, 10]),
            "transpose": L.transpose(v, [1, 0]),
            "flatten": L.flatten(x, 1),
            "concat": L.concat([v, v], axis=1),
            "split": L.split(v, 5, dim=1)[0],
            "scale": L.scale(v, 2.0, 1.0),
            "cast": L.cast(v, "float64"),
            "fill_constant": L.fill_constant([2], "float32", 3.0),
            "assign": L.assign(v),
            "assign_array": L.assign(np.arange(3.0)),
            "cross_entropy": L.cross_entropy(L.softmax(v), lab),
            "softmax_with_cross_entropy": L.softmax_with_cross_entropy(v, lab),
            "square_error_cost": L.square_error_cost(v, v * 0.5),
            "accuracy": L.accuracy(L.softmax(v), lab),
        }
        for name in ["relu", "sigmoid", "tanh", "leaky_relu", "softmax", "log_softmax", "exp", "square", "abs"]:
            outs[name] = getattr(L, name)(v)
        for name in [
            "elementwise_add",
            "elementwise_sub",
            "elementwise_mul",
            "elementwise_div",
            "elementwise_max",
            "elementwise_min",
        ]:
            outs[name] = getattr(L, name)(v, v)
        for name in ["reduce_sum", "reduce_mean", "reduce_max"]:
            outs[name] = getattr(L, name)(v, dim=1)
        shapes = {k: o.shape for k, o in outs.items()}
        assert shapes["conv2d"] == (4, 2, 6, 6) and shapes["pool2d"] == (4, 3, 3, 3) and shapes["mean"] == ()
        assert shapes["flatten"] == (4, 108) and shapes["reduce_sum"] == (4,) and shapes["concat"] == (4, 10)
        np.testing.assert_allclose(outs["scale"].numpy(), 2 * v.numpy() + 1, rtol=1e-6)
        np.testing.assert_array_equal(outs["assign_array"].numpy(), [0.0, 1.0, 2.0])
        total = L.mean(L.flatten(outs["conv2d"], 1)) + L.mean(outs["softmax_with_cross_entropy"])
        (total + L.mean(outs["batch_norm"])).backward()
        assert x.gradient().shape == x.shape and np.any(x.gradient() != 0)
        assert v.gradient().shape == v.shape and np.any(v.gradient() != 0)
