"""Optimizers: Paddle's reference numbers (paddle_behaviour.md section 5), accumulator names
and initial values, op order and roles, clipping, regularization, per-parameter learning
rates and the errors for bad arguments."""

import numpy as np
import pytest

import minigraph as mg
from minigraph.clip import GradientClipByGlobalNorm
from minigraph.errors import ModelFormatError
from minigraph.initializer import Constant, Uniform
from minigraph.ir import OpRole
from minigraph.regularizer import L2Decay, regularizer_from_dict

X = np.array([[1, 2, 3], [4, 5, 6]], dtype="float32")
UPDATE_OPS = {"sgd", "momentum", "adam"}


class Net:
    """fc(x, 1) with loss = mean(y*y) (the same as mean(square(y))), minimized by `opt`."""

    def __init__(self, opt, w_attr=None, b_attr=None, dtype="float32", seed=0, **minimize_kw):
        self.main, self.startup = mg.Program(), mg.Program()
        self.startup.random_seed = seed
        with mg.program_guard(self.main, self.startup):
            x = mg.data("x", [None, 3], dtype)
            w_attr = w_attr or mg.ParamAttr(name="fw", initializer=Constant(0.5))
            b_attr = b_attr or mg.ParamAttr(name="fb")
            y = mg.layers.fc(x, 1, param_attr=w_attr, bias_attr=b_attr)
            self.loss = mg.layers.mean(y * y)
            self.test_program = self.main.clone(for_test=True)
            self.ops, self.params_grads = opt.minimize(self.loss, **minimize_kw)
        self.exe, self.scope = mg.Executor(), mg.Scope()
        self.exe.run(self.startup, scope=self.scope)

    def value(self, name):
        return np.array(self.scope.find_var(name).get_tensor())

    def train(self, steps=2, x=X, fetch=()):
        out = None
        for _ in range(steps):
            out = self.exe.run(self.main, feed={"x": x}, fetch_list=list(fetch), scope=self.scope)
        return out

    def op_types(self):
        return [op.type for op in self.main.global_block().ops]


def grads_np(w, b, x):
    """Gradients of mean((x @ w + b)^2) in float64."""
    y = x @ w + b
    dy = 2.0 * y / y.size
    return x.T @ dy, dy.sum(axis=0)


# --- section 5: Paddle's reference run ----------------------------------------------------


def test_reference_sgd():
    net = Net(mg.optimizer.SGD(0.01))
    net.train(2)
    np.testing.assert_allclose(net.value("fw").ravel(), [0.14285, 0.0305, -0.08185], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.value("fb"), [-0.11235], rtol=1e-5)


def test_reference_sgd_l2():
    net = Net(mg.optimizer.SGD(0.01, regularization=L2Decay(0.1)))
    net.train(2)
    np.testing.assert_allclose(net.value("fw").ravel(), [0.1425105, 0.0303705, -0.0817695], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.value("fb"), [-0.11214], rtol=1e-5)


def test_reference_momentum():
    net = Net(mg.optimizer.Momentum(0.01, momentum=0.9))
    net.train(2)
    np.testing.assert_allclose(net.value("fw").ravel(), [-0.15415, -0.361, -0.56785], rtol=1e-5)
    np.testing.assert_allclose(net.value("fw_velocity_0").ravel(), [32.415, 42.6, 52.785], rtol=1e-5)
    np.testing.assert_allclose(net.value("fb"), [-0.20685], rtol=1e-5)
    np.testing.assert_allclose(net.value("fb_velocity_0"), [10.185], rtol=1e-5)


def test_reference_adam():
    net = Net(mg.optimizer.Adam(0.01))
    net.train(2)
    np.testing.assert_allclose(net.value("fw").ravel(), [0.4800063] * 3, rtol=1e-6)
    np.testing.assert_allclose(net.value("fb"), [-0.0199936], rtol=1e-5)
    np.testing.assert_allclose(net.value("fw_moment1_0").ravel(), [6.199, 8.171, 10.143], rtol=1e-5)
    np.testing.assert_allclose(net.value("fw_moment2_0").ravel(), [2.1305275, 3.7016635, 5.7040195], rtol=1e-5)
    # the beta-power accumulators start at beta1/beta2 and are multiplied after each step
    np.testing.assert_allclose(net.value("fw_beta1_pow_acc_0"), [0.729], rtol=1e-6)
    np.testing.assert_allclose(net.value("fw_beta2_pow_acc_0"), [0.997003], rtol=1e-6)
    np.testing.assert_allclose(net.value("fb_beta1_pow_acc_0"), [0.729], rtol=1e-6)


# --- accumulators, names, op order ------------------------------------------------------


def _startup_fills(startup):
    return {op.output("Out")[0]: op.attr("value") for op in startup.global_block().ops if op.type == "fill_constant"}


@pytest.mark.parametrize(
    "make, accumulators",
    [
        (lambda: mg.optimizer.SGD(0.01), {}),
        (
            lambda: mg.optimizer.Momentum(0.01, 0.9),
            {"fb_velocity_0": ((1,), 0.0), "fw_velocity_0": ((3, 1), 0.0)},
        ),
        (
            lambda: mg.optimizer.Adam(0.01, beta1=0.8, beta2=0.99),
            {
                "fb_moment1_0": ((1,), 0.0),
                "fb_moment2_0": ((1,), 0.0),
                "fb_beta1_pow_acc_0": ((1,), 0.8),
                "fb_beta2_pow_acc_0": ((1,), 0.99),
                "fw_moment1_0": ((3, 1), 0.0),
                "fw_moment2_0": ((3, 1), 0.0),
                "fw_beta1_pow_acc_0": ((1,), 0.8),
                "fw_beta2_pow_acc_0": ((1,), 0.99),
            },
        ),
    ],
    ids=["sgd", "momentum", "adam"],
)
def test_accumulators_and_learning_rate(make, accumulators):
    net = Net(make())
    block, sblock = net.main.global_block(), net.startup.global_block()
    lr = block.var("learning_rate_0")
    assert lr.shape == () and lr.dtype == "float32" and lr.persistable
    fills = _startup_fills(net.startup)
    assert fills["learning_rate_0"] == pytest.approx(0.01)
    for name, (shape, value) in accumulators.items():
        v = block.var(name)
        assert v.persistable and v.shape == shape and v.dtype == "float32", name
        assert sblock.var(name).persistable
        assert fills[name] == pytest.approx(value), name
        np.testing.assert_allclose(net.value(name), np.full(shape, value, "float32"))
    persist = {n for n, v in block.vars.items() if v.persistable and not isinstance(v, mg.Parameter)}
    assert persist == {"learning_rate_0", *accumulators}
    # exactly one initializer per parameter or accumulator in startup
    written = [n for op in sblock.ops for n in op.output_arg_names]
    assert sorted(written) == sorted(["fw", "fb", "learning_rate_0", *accumulators])
    assert all(op.role == OpRole.FORWARD for op in sblock.ops)


@pytest.mark.parametrize(
    "make",
    [lambda: mg.optimizer.SGD(0.1), lambda: mg.optimizer.Momentum(0.1, 0.9), lambda: mg.optimizer.Adam(0.1)],
    ids=["sgd", "momentum", "adam"],
)
def test_update_ops_follow_backward_in_parameter_name_order(make):
    # "zz" is created before "aa": creation order and name order differ.
    net = Net(make(), w_attr=mg.ParamAttr(name="zz"), b_attr=mg.ParamAttr(name="aa"))
    ops = net.main.global_block().ops
    last_backward = max(i for i, op in enumerate(ops) if op.role & OpRole.BACKWARD)
    updates = [i for i, op in enumerate(ops) if op.type in UPDATE_OPS]
    assert len(updates) == 2 and min(updates) > last_backward
    assert [ops[i].input("Param") for i in updates] == [["aa"], ["zz"]]
    assert all(ops[i].role == OpRole.OPTIMIZE for i in updates)
    assert net.ops == [ops[i] for i in updates]
    for i in updates:  # ParamOut is the parameter itself
        assert ops[i].output("ParamOut") == ops[i].input("Param")
    assert [(p.name, g.name) for p, g in net.params_grads] == [("zz", "zz@GRAD"), ("aa", "aa@GRAD")]
    assert "# optimize" in str(net.main)


def test_fc_default_names_sorted_bias_first():
    net = Net(mg.optimizer.Momentum(0.1, 0.9), w_attr=mg.ParamAttr(), b_attr=mg.ParamAttr())
    params = [op.input("Param")[0] for op in net.main.global_block().ops if op.type == "momentum"]
    assert params == ["fc_0.b_0", "fc_0.w_0"]
    assert net.main.global_block().has_var("fc_0.w_0_velocity_0")


@pytest.mark.parametrize(
    "make",
    [
        lambda: mg.optimizer.SGD(0.1, regularization=L2Decay(0.1), grad_clip=GradientClipByGlobalNorm(1.0)),
        lambda: mg.optimizer.Momentum(0.1, 0.9),
        lambda: mg.optimizer.Adam(0.1),
    ],
    ids=["sgd", "momentum", "adam"],
)
def test_clone_for_test_drops_optimizer(make):
    net = Net(make(), w_attr=mg.ParamAttr(name="fw", initializer=Constant(0.5), learning_rate=2.0))
    test = net.main.clone(for_test=True)
    block = test.global_block()
    assert not UPDATE_OPS & {op.type for op in block.ops}
    assert all(op.role == OpRole.FORWARD for op in block.ops)
    assert not [n for n in block.vars if "@GRAD" in n or "learning_rate" in n or "velocity" in n or "moment" in n]
    assert [op.type for op in block.ops] == [op.type for op in net.test_program.global_block().ops]
    before = net.value("fw")
    net.exe.run(test, feed={"x": X}, scope=net.scope)
    np.testing.assert_array_equal(net.value("fw"), before)


def test_names_are_deterministic_per_program():
    texts = [str(Net(mg.optimizer.Adam(0.1)).main) for _ in range(2)]
    assert texts[0] == texts[1]
    # one optimizer object on two programs: each program counts from zero
    opt = mg.optimizer.Momentum(0.1, 0.9)
    a, b = Net(opt), Net(opt)
    assert a.main.global_block().has_var("learning_rate_0") and b.main.global_block().has_var("learning_rate_0")
    assert b.main.global_block().has_var("fw_velocity_0")
    assert not b.main.global_block().has_var("learning_rate_1")


# --- update rules against numpy -----------------------------------------------------------


def _random_net(opt, **kw):
    return Net(
        opt,
        w_attr=kw.pop("w_attr", None) or mg.ParamAttr(name="fw", initializer=Uniform(-1, 1)),
        b_attr=kw.pop("b_attr", None) or mg.ParamAttr(name="fb", initializer=Uniform(-1, 1)),
        seed=11,
        **kw,
    )


XR = np.random.default_rng(3).normal(size=(4, 3))


def test_nesterov_against_numpy():
    lr, mu = 0.05, 0.8
    net = _random_net(mg.optimizer.Momentum(lr, mu, use_nesterov=True))
    assert all(op.attr("use_nesterov") for op in net.main.global_block().ops if op.type == "momentum")
    w, b = net.value("fw").astype(np.float64), net.value("fb").astype(np.float64)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for _ in range(3):
        gw, gb = grads_np(w, b, XR)
        vw, vb = mu * vw + gw, mu * vb + gb
        w, b = w - lr * (gw + mu * vw), b - lr * (gb + mu * vb)
    net.train(3, XR.astype("float32"))
    np.testing.assert_allclose(net.value("fw"), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.value("fb"), b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.value("fw_velocity_0"), vw, rtol=1e-5, atol=1e-6)


def test_adam_against_numpy_float64():
    lr, b1, b2, eps = 0.03, 0.8, 0.95, 1e-3
    net = _random_net(mg.optimizer.Adam(lr, b1, b2, eps), dtype="float64")
    assert net.value("fw").dtype == np.float64 and net.value("fw_moment1_0").dtype == np.float64
    w, b = net.value("fw"), net.value("fb")
    state = {k: [np.zeros_like(v), np.zeros_like(v)] for k, v in (("w", w), ("b", b))}
    b1p, b2p = b1, b2
    for _ in range(3):
        gw, gb = grads_np(w, b, XR)
        new = {}
        for k, p, g in (("w", w, gw), ("b", b, gb)):
            m, v = state[k]
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            lr_t = lr * np.sqrt(1 - b2p) / (1 - b1p)
            new[k] = p - lr_t * m / (np.sqrt(v) + eps * np.sqrt(1 - b2p))
            state[k] = [m, v]
        w, b = new["w"], new["b"]
        b1p, b2p = b1p * b1, b2p * b2
    net.train(3, XR)
    # the learning-rate variable is float32 (as in Paddle), so 0.03 carries float32 rounding
    np.testing.assert_allclose(net.value("fw"), w, rtol=1e-7)
    np.testing.assert_allclose(net.value("fb"), b, rtol=1e-7)
    np.testing.assert_allclose(net.value("fw_beta2_pow_acc_0"), [b2**4], rtol=1e-12)


@pytest.mark.parametrize("clip_norm", [0.5, 1e6], ids=["clipping", "norm_below_limit"])
def test_global_norm_clip_before_regularization(clip_norm):
    lr, coeff = 0.1, 0.2
    opt = mg.optimizer.SGD(lr, regularization=L2Decay(coeff), grad_clip=GradientClipByGlobalNorm(clip_norm))
    net = _random_net(opt)
    types = net.op_types()
    # clip ops, then the regularization ops, then the updates
    first = {t: types.index(t) for t in ("global_norm_scale", "scale", "sgd")}
    assert first["global_norm_scale"] < first["scale"] < first["sgd"]
    w, b = net.value("fw").astype(np.float64), net.value("fb").astype(np.float64)
    for _ in range(2):
        gw, gb = grads_np(w, b, XR)
        norm = np.sqrt(np.sum(gw**2) + np.sum(gb**2))
        s = clip_norm / max(norm, clip_norm)
        w, b = w - lr * (gw * s + coeff * w), b - lr * (gb * s + coeff * b)
    net.train(2, XR.astype("float32"))
    np.testing.assert_allclose(net.value("fw"), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.value("fb"), b, rtol=1e-5, atol=1e-6)


def test_global_norm_clip_skips_need_clip_false():
    lr, clip_norm = 0.1, 0.3
    opt = mg.optimizer.SGD(lr, grad_clip=GradientClipByGlobalNorm(clip_norm))
    b_attr = mg.ParamAttr(name="fb", initializer=Uniform(-1, 1), need_clip=False)
    net = _random_net(opt, b_attr=b_attr)
    w, b = net.value("fw").astype(np.float64), net.value("fb").astype(np.float64)
    gw, gb = grads_np(w, b, XR)
    s = clip_norm / max(np.sqrt(np.sum(gw**2)), clip_norm)  # fb's gradient is not in the norm
    assert s < 1
    net.train(1, XR.astype("float32"))
    np.testing.assert_allclose(net.value("fw"), w - lr * gw * s, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.value("fb"), b - lr * gb, rtol=1e-5, atol=1e-6)


def test_global_norm_clip_refuses_bad_norm():
    with pytest.raises(ValueError, match="clip_norm"):
        GradientClipByGlobalNorm(0.0)


def test_non_trainable_parameter_is_not_updated():
    w_attr = mg.ParamAttr(name="fw", initializer=Constant(0.5), trainable=False)
    net = Net(mg.optimizer.Adam(0.1), w_attr=w_attr)
    assert [p.name for p, _ in net.params_grads] == ["fb"]
    assert [op.input("Param") for op in net.ops] == [["fb"]]
    assert not [n for n in net.main.global_block().vars if n.startswith("fw_")]
    net.train(2)
    np.testing.assert_array_equal(net.value("fw"), np.full((3, 1), 0.5, "float32"))
    assert net.value("fb")[0] != 0.0


@pytest.mark.parametrize(
    "make, step",
    [
        (lambda: mg.optimizer.SGD(0.01), lambda lr, g, v: (lr * g, v)),
        (lambda: mg.optimizer.Momentum(0.01, 0.9), lambda lr, g, v: (lr * (0.9 * v + g), 0.9 * v + g)),
    ],
    ids=["sgd", "momentum"],
)
def test_param_attr_learning_rate_scales_the_step(make, step):
    w_attr = mg.ParamAttr(name="fw", initializer=Constant(0.5), learning_rate=0.25)
    net = Net(make(), w_attr=w_attr)
    scales = [op for op in net.main.global_block().ops if op.type == "scale" and op.input("X") == ["learning_rate_0"]]
    assert len(scales) == 1 and scales[0].attr("scale") == 0.25 and scales[0].role == OpRole.OPTIMIZE
    w, b = np.full((3, 1), 0.5), np.zeros(1)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for _ in range(2):
        gw, gb = grads_np(w, b, X.astype(np.float64))
        dw, vw = step(0.01 * 0.25, gw, vw)
        db, vb = step(0.01, gb, vb)
        w, b = w - dw, b - db
    net.train(2)
    np.testing.assert_allclose(net.value("fw"), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.value("fb"), b, rtol=1e-5, atol=1e-6)


def test_learning_rate_variable():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3])
        y = mg.layers.fc(x, 1, param_attr=mg.ParamAttr(name="fw", initializer=Constant(0.5)), bias_attr=False)
        loss = mg.layers.mean(y * y)
        lr = mg.create_global_var([], 0.01, "float32", persistable=True, name="my_lr")
        mg.optimizer.SGD(lr).minimize(loss)
    assert not main.global_block().has_var("learning_rate_0")
    (op,) = [op for op in main.global_block().ops if op.type == "sgd"]
    assert op.input("LearningRate") == ["my_lr"]
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    exe.run(main, feed={"x": X}, scope=scope)
    np.testing.assert_allclose(np.array(scope.find_var("fw").get_tensor()).ravel(), [0.17, 0.065, -0.04], rtol=1e-5)


# --- regularization ---------------------------------------------------------------------


def test_sgd_l2_ops_and_raw_gradient_kept():
    net = Net(mg.optimizer.SGD(0.01, regularization=L2Decay(0.1)))
    ops = [op for op in net.main.global_block().ops if op.role == OpRole.OPTIMIZE]
    assert [op.type for op in ops] == ["scale", "sum", "scale", "sum", "sgd", "sgd"]
    scale, total = ops[2], ops[3]  # fw comes after fb
    assert scale.input("X") == ["fw"] and scale.attr("scale") == pytest.approx(0.1)
    assert scale.output("Out")[0].startswith("_generated_var_")
    assert total.input("X") == ["fw@GRAD", scale.output("Out")[0]]
    assert ops[5].input("Grad") == total.output("Out")
    # fw@GRAD itself still holds the plain gradient
    gw, _ = grads_np(np.full((3, 1), 0.5), np.zeros(1), X.astype(np.float64))
    (got,) = net.train(1, fetch=["fw@GRAD"])
    np.testing.assert_allclose(got, gw, rtol=1e-6)


def test_float_regularization_means_l2():
    a, b = Net(mg.optimizer.SGD(0.01, regularization=0.1)), Net(mg.optimizer.SGD(0.01, regularization=L2Decay(0.1)))
    a.train(2), b.train(2)
    np.testing.assert_array_equal(a.value("fw"), b.value("fw"))


def test_momentum_folds_l2_into_its_attributes():
    net = Net(mg.optimizer.Momentum(0.01, 0.9, regularization=L2Decay(0.1)))
    assert "sum" not in [op.type for op in net.main.global_block().ops if op.role == OpRole.OPTIMIZE]
    for op in net.ops:
        assert op.attr("regularization_method") == "l2_decay"
        assert op.attr("regularization_coeff") == pytest.approx(0.1)
        assert op.input("Grad") == [op.input("Param")[0] + "@GRAD"]
    w, b = np.full((3, 1), 0.5), np.zeros(1)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for _ in range(2):
        gw, gb = grads_np(w, b, X.astype(np.float64))
        vw, vb = 0.9 * vw + gw + 0.1 * w, 0.9 * vb + gb + 0.1 * b
        w, b = w - 0.01 * vw, b - 0.01 * vb
    net.train(2)
    np.testing.assert_allclose(net.value("fw"), w, rtol=1e-5)
    np.testing.assert_allclose(net.value("fb_velocity_0"), vb, rtol=1e-5)


def test_param_regularizer_wins_over_optimizer():
    w_attr = mg.ParamAttr(name="fw", initializer=Constant(0.5), regularizer=L2Decay(0.5))
    net = Net(mg.optimizer.SGD(0.01, regularization=L2Decay(0.1)), w_attr=w_attr)
    coeffs = {
        op.input("X")[0]: op.attr("scale")
        for op in net.main.global_block().ops
        if op.type == "scale" and op.role == OpRole.OPTIMIZE
    }
    assert coeffs == {"fb": pytest.approx(0.1), "fw": pytest.approx(0.5)}
    w, b = np.full((3, 1), 0.5), np.zeros(1)
    for _ in range(2):
        gw, gb = grads_np(w, b, X.astype(np.float64))
        w, b = w - 0.01 * (gw + 0.5 * w), b - 0.01 * (gb + 0.1 * b)
    net.train(2)
    np.testing.assert_allclose(net.value("fw"), w, rtol=1e-5)
    np.testing.assert_allclose(net.value("fb"), b, rtol=1e-5)
    # Momentum: the parameter's own L2 is folded with its own coefficient
    mom = Net(mg.optimizer.Momentum(0.01, 0.9), w_attr=w_attr)
    coeff = {
        op.input("Param")[0]: (op.attr("regularization_method"), op.attr("regularization_coeff")) for op in mom.ops
    }
    assert coeff == {"fb": ("", 0.0), "fw": ("l2_decay", 0.5)}


def test_regularizer_dict_round_trip():
    assert regularizer_from_dict(None) is None
    assert regularizer_from_dict(L2Decay(0.25).to_dict()) == L2Decay(0.25)
    with pytest.raises(ModelFormatError, match="unknown regularizer"):
        regularizer_from_dict({"type": "L7"})
    w_attr = mg.ParamAttr(name="fw", initializer=Constant(0.5), regularizer=L2Decay(0.5))
    net = Net(mg.optimizer.SGD(0.01), w_attr=w_attr)
    loaded = mg.Program.from_dict(net.main.to_dict())
    assert loaded.global_block().var("fw").regularizer == L2Decay(0.5)
    assert loaded.global_block().var("fb").regularizer is None


# --- arguments --------------------------------------------------------------------------


def test_parameter_list_restricts_updates():
    net = Net(mg.optimizer.SGD(0.01), parameter_list=["fw"])
    assert [op.input("Param") for op in net.ops] == [["fw"]]
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3])
        y = mg.layers.fc(x, 1, param_attr=mg.ParamAttr(name="fw"), bias_attr=mg.ParamAttr(name="fb"))
        loss = mg.layers.mean(y * y)
        fb = main.global_block().var("fb")
        ops, pg = mg.optimizer.Adam(0.01, parameter_list=[fb]).minimize(loss)
    assert [op.input("Param") for op in ops] == [["fb"]] and [p.name for p, _ in pg] == ["fb"]


def test_no_grad_set():
    net = Net(mg.optimizer.SGD(0.01), no_grad_set={"fb"})
    assert [op.input("Param") for op in net.ops] == [["fw"]]


def test_momentum_as_variable_is_refused():
    main = mg.Program()
    with mg.program_guard(main, mg.Program()):
        mu = mg.layers.fill_constant([1], "float32", 0.5)
    with pytest.raises(TypeError, match="momentum given as a Variable"):
        mg.optimizer.Momentum(0.1, momentum=mu)
    with pytest.raises(TypeError, match="beta1"):
        mg.optimizer.Adam(0.1, beta1=mu)


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: mg.optimizer.SGD("0.1"), TypeError, "learning_rate"),
        (lambda: mg.optimizer.SGD(0.1, regularization="l2"), TypeError, "regularization"),
        (lambda: mg.optimizer.SGD(0.1, grad_clip=1.0), TypeError, "grad_clip"),
        (lambda: mg.optimizer.Momentum(0.1, momentum="high"), TypeError, "momentum"),
        (lambda: mg.optimizer.Adam(0.1, beta1=1.0), ValueError, "beta1"),
    ],
)
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_minimize_requires_a_variable():
    with pytest.raises(TypeError, match="loss"):
        mg.optimizer.SGD(0.1).minimize("loss")
