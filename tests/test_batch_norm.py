"""batch_norm against Paddle's measured numbers (paddle_behaviour.md section 1), and the
deliberate differences: in_place gradients, the gradient in every mode, SavedMean/
SavedVariance in running mode, the degenerate-batch error, trainable_statistics in tests."""

from __future__ import annotations

import numpy as np
import pytest

import minigraph as mg
from minigraph.initializer import Constant

X0 = (((np.arange(24) * 7) % 11 - 5) / 4).reshape(2, 3, 2, 2).astype("float32")
W0 = (((np.arange(24) * 5) % 9 - 4) / 8).reshape(2, 3, 2, 2).astype("float32")
MM = np.array([0.1, -0.2, 0.3], "float32")
MV = np.array([0.5, 2.0, 1.5], "float32")
TOL = {"rtol": 1e-6, "atol": 1e-6}

BATCH_DSCALE = [0.0968527, -0.0547172, 0.0016268]
BATCH_DBIAS = [-0.0104167, 0.0260417, -0.03125]
BATCH_DX = [
    0.0018354, 0.0023398, -0.0051477, -0.0046433, -0.0152328, 0.0077041, 0.001791, 0.0247279,
    0.0051185, -0.0214658, 0.0113876, -0.0143238, 0.0086392, 0.0011517, 0.0016561, -0.0058314,
    0.0149096, 0.0089966, -0.0329166, -0.0099798, -0.0149586, 0.0178948, -0.0078166, 0.0241639,
]  # fmt: skip


class BN:
    """One batch_norm on a fed x (optionally loss = mean(Y * w) with its backward), built
    and initialised in a fresh scope."""

    def __init__(self, x, w=None, grad=True, stats=None, params=None, layer=False, **kw):
        self.main, self.startup = mg.Program(), mg.Program()
        with mg.program_guard(self.main, self.startup):
            xv = mg.data("x", list(x.shape), dtype=x.dtype.name)
            xv.stop_gradient = not grad
            if layer:  # the class, for trainable_statistics
                self.y = mg.nn.BatchNorm(x.shape[1], dtype=x.dtype.name, **kw)(xv)
            else:
                self.y = mg.layers.batch_norm(xv, **kw)
            self.feed = {"x": x}
            self.fetch = {"y": self.y.name, "saved_mean": "batch_norm_0.tmp_0", "saved_inv_std": "batch_norm_0.tmp_1"}
            if w is not None:
                wv = mg.data("w", list(w.shape), dtype=w.dtype.name)
                loss = mg.layers.mean(mg.layers.elementwise_mul(self.y, wv))
                self.feed["w"] = w
                pairs = dict((p.name, g.name) for p, g in mg.append_backward(loss))
                self.fetch["d_scale"] = pairs["batch_norm_0.w_0"]
                self.fetch["d_bias"] = pairs["batch_norm_0.b_0"]
                if grad:
                    self.fetch["dx"] = "x@GRAD"
        self.exe, self.scope = mg.Executor(), mg.Scope()
        self.exe.run(self.startup, scope=self.scope)
        for name, value in {**(stats or {}), **(params or {})}.items():
            self.scope.var(name).set(np.asarray(value, x.dtype))

    def stat(self, name):
        return np.array(self.scope.find_var(name).get_tensor())

    def run(self):
        keys = list(self.fetch)
        values = self.exe.run(self.main, feed=self.feed, fetch_list=[self.fetch[k] for k in keys], scope=self.scope)
        out = dict(zip(keys, values))
        out["mean_out"] = self.stat("batch_norm_0.w_1")
        out["var_out"] = self.stat("batch_norm_0.w_2")
        return out


RUNNING = {"batch_norm_0.w_1": MM, "batch_norm_0.w_2": MV}


# --- 1.3 forward in batch-statistics mode ----------------------------------------------------


def test_example1_forward_and_two_steps():
    bn = BN(X0, grad=False)
    r = bn.run()
    np.testing.assert_allclose(r["saved_mean"], [0.1875, -0.03125, -0.25], **TOL)
    np.testing.assert_allclose(r["saved_inv_std"], [1.2094774, 1.3834674, 1.2493804], **TOL)
    np.testing.assert_allclose(r["mean_out"], [0.01875, -0.003125, -0.025], **TOL)
    # the biased variance is blended in, not the unbiased [0.78125, 0.5970982, 0.7321429]
    np.testing.assert_allclose(r["var_out"], [0.9683594, 0.9522461, 0.9640625], **TOL)
    want_y = [
        -1.7386239, 0.3779617, -0.8315157, 1.2850697, 0.3891002, -0.9943672, 1.4267008, 0.0432334,
        -0.9370353, 1.2493804, 0, -1.2493804, 0.3779617, -0.8315157, 1.2850697, 0.0755923,
        -0.9943672, 1.4267008, 0.0432334, -1.340234, 1.2493804, 0, -1.2493804, 0.9370353,
    ]  # fmt: skip
    np.testing.assert_allclose(r["y"].ravel(), want_y, **TOL)
    assert r["y"].dtype == np.float32 and r["saved_inv_std"].dtype == np.float32
    r2 = bn.run()
    np.testing.assert_allclose(r2["mean_out"], [0.035625, -0.0059375, -0.0475], **TOL)
    np.testing.assert_allclose(r2["var_out"], [0.9398828, 0.9092675, 0.9317188], **TOL)


def test_example2_scale_bias_momentum_epsilon():
    params = {"batch_norm_0.w_0": [0.5, 1, 2], "batch_norm_0.b_0": [0.1, 0.2, 0.3]}
    r = BN(X0, grad=False, params=params, momentum=0.8, epsilon=1e-3).run()
    np.testing.assert_allclose(r["saved_inv_std"], [1.2086027, 1.3821585, 1.2484162], **TOL)
    np.testing.assert_allclose(r["mean_out"], [0.0375, -0.00625, -0.05], **TOL)
    np.testing.assert_allclose(r["var_out"], [0.9367188, 0.9044922, 0.928125], **TOL)
    np.testing.assert_allclose(
        r["y"].ravel()[:6], [-0.7686832, 0.2888442, -0.3154572, 0.7420702, 0.5887321, -0.7934265], **TOL
    )


# --- 1.6 the 2-D example ----------------------------------------------------------------------


def test_2d_example_forward_and_parameter_grads():
    r = BN(X0.reshape(8, 3), W0.reshape(8, 3)).run()
    np.testing.assert_allclose(r["saved_mean"], [0.28125, -0.375, 0], **TOL)
    np.testing.assert_allclose(r["saved_inv_std"], [1.3438615, 1.7457165, 1.0886557], **TOL)
    np.testing.assert_allclose(r["var_out"], [0.9553711, 0.9328125, 0.984375], **TOL)
    np.testing.assert_allclose(r["d_scale"], [0.0419957, 0.0102288, 0.0340205], **TOL)
    np.testing.assert_allclose(r["d_bias"], [-0.0416667, 0.0260417, 0], **TOL)


# --- 1.7 zero variance --------------------------------------------------------------------------


def test_zero_variance_channel():
    x = np.tile(np.array([1.0, -2.0, 3.0], "float32").reshape(1, 3, 1, 1), (2, 1, 1, 1))
    r = BN(x, np.ones_like(x)).run()
    np.testing.assert_allclose(r["saved_inv_std"], [316.22775] * 3, rtol=1e-6)
    np.testing.assert_allclose(r["y"], np.zeros_like(x), atol=1e-6)  # Y = bias
    np.testing.assert_allclose(r["var_out"], [0.9] * 3, **TOL)
    np.testing.assert_allclose(r["dx"], np.zeros_like(x), atol=1e-6)
    np.testing.assert_allclose(r["d_scale"], [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(r["d_bias"], [1 / 3] * 3, **TOL)


# --- 1.10 gradients -----------------------------------------------------------------------------


def test_batch_mode_gradients():
    r = BN(X0, W0).run()
    np.testing.assert_allclose(r["d_scale"], BATCH_DSCALE, **TOL)
    np.testing.assert_allclose(r["d_bias"], BATCH_DBIAS, **TOL)
    np.testing.assert_allclose(r["dx"].ravel(), BATCH_DX, **TOL)


GLOBAL_Y8 = [-1.9091691, 0.5656797, -0.8485196, 1.6263293, 0.3181973, -0.3889077, 0.848526, 0.141421]
GLOBAL_DX8 = [-0.0294625, 0.0073656, -0.0220969, 0.0147312, -0.0073657, 0.0110485, -0.0036828, 0.0147314]


@pytest.mark.parametrize("mode", [{"use_global_stats": True}, {"is_test": True}], ids=["use_global_stats", "is_test"])
def test_running_mode_forward_and_gradients(mode):
    r = BN(X0, W0, stats=RUNNING, **mode).run()
    np.testing.assert_allclose(r["y"].ravel()[:8], GLOBAL_Y8, **TOL)
    np.testing.assert_allclose(r["d_scale"], [0.1119574, -0.0248592, 0.0150966], **TOL)
    np.testing.assert_allclose(r["d_bias"], BATCH_DBIAS, **TOL)
    np.testing.assert_allclose(r["dx"].ravel()[:8], GLOBAL_DX8, **TOL)
    np.testing.assert_array_equal(r["mean_out"], MM)
    np.testing.assert_array_equal(r["var_out"], MV)


def test_saved_statistics_written_in_running_mode():
    """Deliberate difference 4: Paddle leaves them as garbage."""
    r = BN(X0, grad=False, stats=RUNNING, use_global_stats=True).run()
    np.testing.assert_allclose(r["saved_mean"], MM, **TOL)
    np.testing.assert_allclose(r["saved_inv_std"], 1 / np.sqrt(MV + 1e-5), **TOL)


def test_is_test_with_trainable_statistics_uses_the_batch_formula():
    """Deliberate difference 3: the forward used batch statistics, so the gradient is the
    batch formula (independent of the running statistics); Paddle mixes in the updated
    running statistics and gets dScale = [0.1100835, -0.0261545, 0.0141032]."""
    bn = BN(X0, W0, stats=RUNNING, layer=True, is_test=True, trainable_statistics=True)
    r = bn.run()
    np.testing.assert_allclose(r["saved_inv_std"], [1.2094774, 1.3834674, 1.2493804], **TOL)
    np.testing.assert_allclose(r["d_scale"], BATCH_DSCALE, **TOL)
    np.testing.assert_allclose(r["d_bias"], BATCH_DBIAS, **TOL)
    np.testing.assert_allclose(r["dx"].ravel(), BATCH_DX, **TOL)
    # NOTE: a test-mode op never changes the statistics (Paddle updates them here).
    np.testing.assert_array_equal(r["mean_out"], MM)
    np.testing.assert_array_equal(r["var_out"], MV)


def test_is_test_with_trainable_statistics_gradient_matches_finite_differences():
    x = X0.astype("float64")
    w = W0.astype("float64")
    ts = {"layer": True, "is_test": True, "trainable_statistics": True}
    dx = BN(x, w, stats=RUNNING, **ts).run()["dx"]
    fwd = BN(x, grad=False, stats=RUNNING, **ts)

    def loss(xv):
        fwd.feed["x"] = xv
        return float(np.mean(fwd.run()["y"] * w))

    eps = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[i] += eps
        lo[i] -= eps
        num[i] = (loss(hi) - loss(lo)) / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-5, atol=1e-9)


# --- 1.7 / difference 6: one value per channel --------------------------------------------------


def test_one_value_per_channel_is_a_build_error():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("lonely", [1, 3, 1, 1])
        with pytest.raises(mg.GraphBuildError, match=r"batch_norm.*lonely.*one value per channel"):
            mg.layers.batch_norm(x)
        x2 = mg.data("flat", [1, 3])
        with pytest.raises(mg.GraphBuildError, match=r"batch_norm.*flat"):
            mg.layers.batch_norm(x2)


def test_one_value_per_channel_is_a_run_error_when_the_batch_is_unknown():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3])
        y = mg.layers.batch_norm(x)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    with pytest.raises(mg.ExecutionError, match=r"(?s)batch_norm\(X=x.*one value per channel"):
        exe.run(main, feed={"x": np.ones((1, 3), "float32")}, fetch_list=[y], scope=scope)
    # the failed run left the statistics untouched
    np.testing.assert_array_equal(scope.find_var("batch_norm_0.w_2").get_tensor(), np.ones(3))
    (out,) = exe.run(main, feed={"x": np.array([[1, 2, 3], [3, 2, 1]], "float32")}, fetch_list=[y], scope=scope)
    np.testing.assert_allclose(out, [[-1, 0, 1], [1, 0, -1]], atol=1e-4)


def test_one_value_per_channel_is_fine_with_running_statistics():
    x = np.array([[1.0, 2.0, 3.0]], "float32")
    r = BN(x, grad=False, use_global_stats=True).run()
    np.testing.assert_allclose(r["y"].ravel(), [0.999995, 1.99999, 2.999985], **TOL)


# --- difference 2: in_place ----------------------------------------------------------------------


def _in_place_net(in_place, act=None, layout="NCHW", x=X0):
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        xv = mg.data("x", list(x.shape))
        xv.stop_gradient = False
        h = mg.layers.scale(xv, 2.0, bias=0.5)  # the value batch_norm overwrites
        y = mg.layers.batch_norm(h, in_place=in_place, act=act, data_layout=layout)
        bn_op = next(op for op in main.global_block().ops if op.type == "batch_norm")
        bn_y = main.global_block().var(bn_op.output("Y")[0])  # h itself when in_place
        z = mg.layers.elementwise_mul(y, bn_y)  # a later read of the overwritten name
        loss = mg.layers.mean(mg.layers.elementwise_mul(z, mg.data("w", list(x.shape))))
        grads = [g.name for _, g in mg.append_backward(loss)]
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    fetch = [y.name, z.name, loss.name, "x@GRAD", *grads]
    out = exe.run(main, feed={"x": x, "w": W0.reshape(x.shape)}, fetch_list=fetch, scope=scope)
    stats = [np.array(scope.find_var(n).get_tensor()) for n in ("batch_norm_0.w_1", "batch_norm_0.w_2")]
    return main, h, y, out + stats


@pytest.mark.parametrize("act", [None, "relu"])
def test_in_place_gives_the_same_values_and_gradients(act):
    main, h, y, got = _in_place_net(True, act)
    _, _, _, want = _in_place_net(False, act)
    if act is None:
        assert y is h  # Y is the input variable itself
    bn_op = next(op for op in main.global_block().ops if op.type == "batch_norm")
    assert bn_op.output("Y") == bn_op.input("X") == [h.name]
    assert len(got) == len(want) == 8
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)  # exactly equal: in_place changes memory, never results


def test_in_place_backward_reads_the_saved_input():
    main, h, _, _ = _in_place_net(True)
    ops = main.global_block().ops
    grad_op = next(op for op in ops if op.type == "batch_norm_grad")
    assert grad_op.input("X") == [f"{h.name}@SAVED@V0"]
    assert grad_op.input("Y@GRAD") == [f"{h.name}@GRAD@V1"]
    saver = next(op for op in ops if op.type == "assign" and op.output("Out") == [f"{h.name}@SAVED@V0"])
    assert ops.index(saver) < ops.index(next(op for op in ops if op.type == "batch_norm"))


# --- 1.6: layouts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 2, 2), (2, 3, 2, 2, 1)], ids=["rank3", "rank4", "rank5"])
def test_nhwc_equals_nchw_after_transposing(shape):
    x, w = X0.reshape(shape), W0.reshape(shape)
    nchw = BN(x, w, stats=None).run()
    np.testing.assert_allclose(nchw["y"].reshape(-1), BN(X0, W0).run()["y"].reshape(-1), **TOL)
    to_last = lambda a: np.ascontiguousarray(np.moveaxis(a, 1, -1))  # noqa: E731
    nhwc = BN(to_last(x), to_last(w), data_layout="NHWC").run()
    np.testing.assert_allclose(np.moveaxis(nhwc["y"], -1, 1), nchw["y"], **TOL)
    np.testing.assert_allclose(np.moveaxis(nhwc["dx"], -1, 1), nchw["dx"], **TOL)
    for key in ("saved_mean", "saved_inv_std", "mean_out", "var_out", "d_scale", "d_bias"):
        np.testing.assert_allclose(nhwc[key], nchw[key], err_msg=key, **TOL)
    np.testing.assert_allclose(nchw["d_scale"], BATCH_DSCALE, **TOL)


def test_rank2_nhwc_is_n_c():
    x, w = X0.reshape(8, 3), W0.reshape(8, 3)
    a, b = BN(x, w).run(), BN(x, w, data_layout="NHWC").run()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


# --- numerics -----------------------------------------------------------------------------------


def test_two_pass_variance_with_a_large_offset():
    r = np.random.default_rng(3)
    base = r.normal(size=(64, 2))
    for dtype, tol in (("float64", 1e-9), ("float32", 2e-2)):
        x = (1e4 + base).astype(dtype)
        out = BN(x, grad=False).run()
        d = x.astype("float64") - x.astype("float64").mean(0)
        want = 1 / np.sqrt((d**2).mean(0) + 1e-5)
        assert np.all(np.isfinite(out["saved_inv_std"]))
        np.testing.assert_allclose(out["saved_inv_std"], want, rtol=tol)


def test_float64_end_to_end():
    r = BN(X0.astype("float64"), W0.astype("float64")).run()
    assert r["y"].dtype == np.float64 and r["mean_out"].dtype == np.float64
    np.testing.assert_allclose(r["dx"].ravel(), BATCH_DX, rtol=1e-6, atol=1e-7)


def _chained_net(in_place):
    """h is read before a batch_norm overwrites it, then overwritten twice more."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        xv = mg.data("x", [2, 3, 2, 2])
        xv.stop_gradient = False
        w = mg.data("w", [2, 3, 2, 2])
        h = mg.layers.scale(xv, 2.0, bias=0.5)
        before = mg.layers.elementwise_mul(h, w)  # reads h before the overwrite
        y1 = mg.layers.batch_norm(h, in_place=in_place)
        y2 = mg.layers.batch_norm(y1, in_place=in_place, param_attr=mg.ParamAttr(initializer=Constant(1.5)))
        loss = mg.layers.elementwise_add(
            mg.layers.mean(mg.layers.elementwise_mul(mg.layers.elementwise_mul(y2, y2), w)), mg.layers.mean(before)
        )
        grads = [g.name for _, g in mg.append_backward(loss)]
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    return exe.run(main, feed={"x": X0, "w": W0}, fetch_list=[loss.name, "x@GRAD", *grads], scope=scope)


def test_in_place_chain_with_an_earlier_reader():
    got, want = _chained_net(True), _chained_net(False)
    assert len(got) == 6
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
