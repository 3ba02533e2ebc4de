"""Builders for the activation, reduction, shape and loss families: names and shapes at
build time (including a -1 batch dim), values at run time, gradients through
append_backward, and error messages that name the op."""

import numpy as np
import pytest

import minigraph as mg
from minigraph import layers as L
from minigraph.errors import ExecutionError, GraphBuildError, OpTypeError

rng = np.random.default_rng(7)


@pytest.fixture
def progs():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        yield main, startup


def _run(main, feed, fetch, startup=None, scope=None):
    exe, scope = mg.Executor(), scope or mg.Scope()
    if startup is not None:
        exe.run(startup, scope=scope)
    return exe.run(main, feed=feed, fetch_list=fetch, scope=scope)


# --- names and shapes at build time -------------------------------------------------------


def test_activation_names_and_shapes(progs):
    x = mg.data("x", [None, 3, 4])
    outs = [
        L.relu(x),
        L.relu(x),
        L.sigmoid(x),
        L.tanh(x),
        L.leaky_relu(x, alpha=0.1),
        L.softmax(x, axis=1),
        L.log_softmax(x),
        L.exp(x),
        L.log(x),
        L.sqrt(x),
        L.square(x),
        L.abs(x),
    ]
    assert [o.name for o in outs[:3]] == ["relu_0.tmp_0", "relu_1.tmp_0", "sigmoid_0.tmp_0"]
    assert outs[-1].name == "abs_0.tmp_0"
    assert all(o.shape == (-1, 3, 4) and o.dtype == "float32" for o in outs)
    ops = progs[0].global_block().ops
    assert ops[4].type == "leaky_relu" and ops[4].attr("alpha") == pytest.approx(0.1)
    assert ops[5].attr("axis") == 1


def test_reduction_shapes(progs):
    x = mg.data("x", [None, 3, 4])
    assert L.reduce_sum(x, dim=1).shape == (-1, 4)
    assert L.reduce_sum(x, dim=[1], keep_dim=True).shape == (-1, 1, 4)
    assert L.reduce_mean(x).shape == ()
    assert L.reduce_mean(x, keep_dim=True).shape == (1, 1, 1)
    m = L.reduce_max(x, dim=[-1, 1])
    assert m.shape == (-1,) and m.name == "reduce_max_0.tmp_0"
    assert L.reduce_sum(x, dim=[0, 1, 2]).shape == ()


def test_shape_builders_with_batch_dim(progs):
    main = progs[0]
    x = mg.data("x", [None, 3, 4])
    r = L.reshape(x, [0, -1])
    assert (r.name, r.shape) == ("reshape2_0.tmp_0", (-1, 12))
    xshape = main.global_block().var("reshape2_0.tmp_1")
    assert xshape.shape == (0, -1, 3, 4) and xshape.stop_gradient
    assert L.reshape(x, [-1, 6]).shape == (-1, 6)
    assert L.reshape(x, (2, -1, 3)).shape == (2, -1, 3)
    assert L.reshape(x, [0, 2, -1]).shape == (-1, 2, 6)
    t = L.transpose(x, [0, 2, 1])
    assert (t.name, t.shape) == ("transpose_0.tmp_0", (-1, 4, 3))
    f = L.flatten(x)
    assert (f.name, f.shape) == ("flatten_0.tmp_0", (-1, 12))
    assert L.flatten(x, axis=2).shape == (-1, 4)
    assert L.flatten(x, axis=0).shape == (1, -1)
    assert L.concat([x, x], axis=1).shape == (-1, 6, 4)
    assert L.concat([x, x], axis=0).shape == (-1, 3, 4)
    parts = L.split(x, 2)
    assert [p.name for p in parts] == ["split_0.tmp_0", "split_0.tmp_1"]
    assert [p.shape for p in parts] == [(-1, 3, 2)] * 2
    assert [p.shape for p in L.split(x, [1, -1], dim=1)] == [(-1, 1, 4), (-1, 2, 4)]
    assert [p.shape for p in L.split(x, 2, dim=0)] == [(-1, 3, 4)] * 2


def test_loss_builders_shapes(progs):
    logits = mg.data("logits", [None, 5])
    label = mg.data("label", [None, 1], dtype="int64")
    loss = L.softmax_with_cross_entropy(logits, label)
    assert (loss.name, loss.shape, loss.dtype) == ("softmax_with_cross_entropy_0.tmp_1", (-1, 1), "float32")
    loss2, sm = L.softmax_with_cross_entropy(logits, label, return_softmax=True)
    assert sm.shape == (-1, 5) and loss2.shape == (-1, 1)
    ce = L.cross_entropy(L.softmax(logits), label)
    assert (ce.name, ce.shape) == ("cross_entropy_0.tmp_0", (-1, 1))
    soft = mg.data("soft", [None, 5])
    assert L.cross_entropy(L.softmax(logits), soft, soft_label=True).shape == (-1, 1)
    sq = L.square_error_cost(logits, soft)
    assert sq.shape == (-1, 5) and sq.name == "square_error_cost_0.tmp_1"
    acc = L.accuracy(logits, label, k=2)
    assert (acc.shape, acc.dtype) == ((), "float32")
    logits3 = mg.data("logits3", [None, 4, 7])
    label3 = mg.data("label3", [None, 1, 7], dtype="int64")
    assert L.softmax_with_cross_entropy(logits3, label3, axis=1).shape == (-1, 1, 7)


# --- values at run time ---------------------------------------------------------------------


def test_shape_builders_run(progs):
    main = progs[0]
    x = mg.data("x", [None, 3, 4])
    r = L.reshape(x, [0, -1])
    t = L.transpose(x, [2, 0, 1])
    f = L.flatten(x, axis=2)
    c = L.concat([x, L.scale(x, 2.0)], axis=-1)
    a, b = L.split(x, [1, -1], dim=1)
    xv = rng.normal(size=(5, 3, 4)).astype("float32")
    got = _run(main, {"x": xv}, [r, t, f, c, a, b])
    want = [
        xv.reshape(5, 12),
        xv.transpose(2, 0, 1),
        xv.reshape(15, 4),
        np.concatenate([xv, 2 * xv], -1),
        xv[:, :1],
        xv[:, 1:],
    ]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)
        assert g.dtype == np.float32


def test_losses_and_accuracy_run(progs):
    main = progs[0]
    logits = mg.data("logits", [None, 3])
    label = mg.data("label", [None, 1], dtype="int64")
    target = mg.data("target", [None, 3])
    loss = L.softmax_with_cross_entropy(logits, label)
    ce = L.cross_entropy(L.softmax(logits), label)
    sq = L.square_error_cost(logits, target)
    acc = L.accuracy(logits, label)
    lv = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0], [0.0, 0.0, 3.0], [1.0, 2.0, 0.0]], "float32")
    yv = np.array([[0], [1], [0], [0]], dtype="int64")
    tv = rng.normal(size=(4, 3)).astype("float32")
    got_loss, got_ce, got_sq, got_acc = _run(main, {"logits": lv, "label": yv, "target": tv}, [loss, ce, sq, acc])
    logp = lv - lv.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    want = -np.take_along_axis(logp, yv, axis=1)
    np.testing.assert_allclose(got_loss, want, rtol=1e-5)
    np.testing.assert_allclose(got_ce, want, rtol=1e-5)
    np.testing.assert_allclose(got_sq, (lv - tv) ** 2, rtol=1e-6)
    assert got_acc.shape == () and got_acc == np.float32(0.5)


# --- gradients through append_backward ---------------------------------------------------------


def test_softmax_cross_entropy_training_matches_hand_gradient(progs):
    """loss = mean(softmax_with_cross_entropy(x @ W, y)); dW = x^T (softmax - onehot) / N.
    A few hand-applied SGD steps with that gradient drive the loss down."""
    main, startup = progs
    x = mg.data("x", [None, 4])
    y = mg.data("y", [None, 1], dtype="int64")
    w = mg.create_parameter([4, 3], "float32", name="w", default_initializer=mg.initializer.Constant(0.0))
    loss = L.mean(L.softmax_with_cross_entropy(L.matmul(x, w), y))
    assert loss.shape == ()
    (pair,) = mg.append_backward(loss)
    assert pair[0].name == "w" and pair[1].name == "w@GRAD"
    assert "softmax_with_cross_entropy_grad" in [op.type for op in main.global_block().ops]

    xv = rng.normal(size=(6, 4)).astype("float32")
    yv = rng.integers(0, 3, size=(6, 1)).astype("int64")
    onehot = np.eye(3, dtype="float32")[yv[:, 0]]
    scope = mg.Scope()
    exe = mg.Executor()
    exe.run(startup, scope=scope)
    wv = rng.normal(scale=0.1, size=(4, 3)).astype("float32")
    losses = []
    for _ in range(5):
        scope.var("w").set(wv)
        lv, gv = exe.run(main, feed={"x": xv, "y": yv}, fetch_list=[loss, "w@GRAD"], scope=scope)
        z = xv @ wv
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        np.testing.assert_allclose(lv, -np.log(p[np.arange(6), yv[:, 0]]).mean(), rtol=1e-5)
        np.testing.assert_allclose(gv, xv.T @ (p - onehot) / 6, rtol=1e-4, atol=1e-6)
        losses.append(float(lv))
        wv = wv - 0.5 * gv
    assert all(b < a for a, b in zip(losses, losses[1:]))


def test_reduce_max_splits_gradient_among_ties(progs):
    x = mg.data("x", [2, 3])
    x.stop_gradient = False
    loss = L.reduce_sum(L.reduce_max(x, dim=1))
    (gx,) = mg.gradients([loss], [x])
    (g,) = _run(progs[0], {"x": np.array([[1.0, 3.0, 3.0], [2.0, -1.0, 0.0]], "float32")}, [gx])
    np.testing.assert_allclose(g, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


def test_reshape_grad_reads_xshape_or_x(progs):
    main = progs[0]
    x = mg.data("x", [None, 6])
    x.stop_gradient = False
    r = L.reshape(x, [0, 2, 3])  # wires XShape
    out = main.global_block().create_var("r2")
    main.global_block().append_op("reshape2", {"X": x}, {"Out": out}, {"shape": [-1]})  # no XShape
    loss = L.reduce_sum(L.square(r)) + L.reduce_sum(out)
    (gx,) = mg.gradients([loss], [x])
    ins = [sorted(op.inputs) for op in main.global_block().ops if op.type == "reshape2_grad"]
    assert sorted(ins) == [["Out@GRAD", "X"], ["Out@GRAD", "XShape"]]
    xv = rng.normal(size=(2, 6)).astype("float32")
    (g,) = _run(main, {"x": xv}, [gx])
    np.testing.assert_allclose(g, 2 * xv + 1, rtol=1e-6)


def test_split_grad_fills_zeros_for_unused_parts(progs):
    x = mg.data("x", [2, 5])
    x.stop_gradient = False
    a, _, c = L.split(x, [2, 1, 2], dim=1)
    loss = L.reduce_sum(a) + L.reduce_sum(L.scale(c, 3.0))
    (gx,) = mg.gradients([loss], [x])
    (g,) = _run(progs[0], {"x": np.zeros((2, 5), "float32")}, [gx])
    np.testing.assert_allclose(g, [[1, 1, 0, 3, 3]] * 2)


def test_softmax_output_of_fused_loss_is_differentiable(progs):
    logits = mg.data("logits", [3, 4])
    logits.stop_gradient = False
    label = mg.data("label", [3, 1], dtype="int64")
    loss, sm = L.softmax_with_cross_entropy(logits, label, return_softmax=True)
    total = L.reduce_sum(loss) + L.reduce_sum(L.square(sm))
    (g,) = mg.gradients([total], [logits])
    lv = rng.normal(size=(3, 4)).astype("float32")
    yv = np.array([[0], [3], [1]], dtype="int64")
    (gv,) = _run(progs[0], {"logits": lv, "label": yv}, [g])
    s = np.exp(lv - lv.max(1, keepdims=True))
    s /= s.sum(1, keepdims=True)
    d = 2 * s
    want = s - np.eye(4)[yv[:, 0]] + s * (d - (d * s).sum(1, keepdims=True))
    np.testing.assert_allclose(gv, want, rtol=1e-5, atol=1e-6)


# --- errors name the op -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, op, words",
    [
        (lambda x: L.softmax(x, axis=3), "softmax", "axis 3"),
        (lambda x: L.log_softmax(x, axis=-4), "log_softmax", "axis -4"),
        (lambda x: L.reshape(x, [5, -1]), "reshape2", "cannot reshape [2, 3, 4]"),
        (lambda x: L.reshape(x, [7, 3]), "reshape2", "(21 elements)"),
        (lambda x: L.reshape(x, [-1, -1]), "reshape2", "more than one -1"),
        (lambda x: L.reshape(x, [0, 0, 0, 0]), "reshape2", "copies a dim"),
        (lambda x: L.transpose(x, [0, 0, 1]), "transpose2", "not a permutation"),
        (lambda x: L.flatten(x, axis=4), "flatten2", "axis 4"),
        (lambda x: L.concat([x, L.transpose(x, [0, 2, 1])], axis=1), "concat", "differ in dim 2"),
        (lambda x: L.split(x, 2, dim=1), "split", "cannot split a dim of 3 into 2"),
        (lambda x: L.split(x, [1, 1], dim=1), "split", "add up to 2"),
        (lambda x: L.reduce_sum(x, dim=3), "reduce_sum", "dim 3 is out of range"),
        (lambda x: L.reduce_max(x, dim=[1, -2]), "reduce_max", "twice"),
    ],
)
def test_build_errors_name_the_op(progs, build, op, words):
    x = mg.data("x", [2, 3, 4])
    with pytest.raises(GraphBuildError) as e:
        build(x)
    msg = str(e.value)
    assert msg.startswith(f"op {op}(") and words in msg, msg


def test_label_errors_at_build_time(progs):
    logits = mg.data("logits", [None, 5])
    with pytest.raises(GraphBuildError, match=r"op softmax_with_cross_entropy\(.*does not fit"):
        L.softmax_with_cross_entropy(logits, mg.data("l2", [None, 2], dtype="int64"))
    with pytest.raises(OpTypeError, match="softmax_with_cross_entropy: Label 'lf' must hold integer class indices"):
        L.softmax_with_cross_entropy(logits, mg.data("lf", [None, 1]))
    with pytest.raises(OpTypeError, match="relu: X 'li' must be a float tensor"):
        L.relu(mg.data("li", [2], dtype="int64"))
    with pytest.raises(GraphBuildError, match=r"op accuracy\(.*k=6"):
        L.accuracy(logits, mg.data("l3", [None, 1], dtype="int64"), k=6)


@pytest.mark.parametrize(
    "build, op",
    [
        (lambda lg, lb: L.softmax_with_cross_entropy(lg, lb), "softmax_with_cross_entropy"),
        (lambda lg, lb: L.cross_entropy(L.softmax(lg), lb), "cross_entropy"),
        (lambda lg, lb: L.accuracy(lg, lb), "accuracy"),
    ],
)
@pytest.mark.parametrize("bad", [3, -2])
def test_label_out_of_range_at_run_time(progs, build, op, bad):
    logits = mg.data("logits", [None, 3])
    label = mg.data("label", [None, 1], dtype="int64")
    out = build(logits, label)
    with pytest.raises(ExecutionError) as e:
        _run(progs[0], {"logits": np.zeros((2, 3), "float32"), "label": np.array([[0], [bad]])}, [out])
    msg = str(e.value)
    assert f"= {op}(" in msg and f"{op}: label {bad} is out of range [0, 3)" in msg, msg


def test_reshape_mismatch_with_batch_dim_fails_at_run_time(progs):
    x = mg.data("x", [None, 3])
    r = L.reshape(x, [-1, 2])
    assert r.shape == (-1, 2)
    with pytest.raises(ExecutionError, match=r"reshape2: cannot reshape \[3, 3\] \(9 elements\)"):
        _run(progs[0], {"x": np.zeros((3, 3), "float32")}, [r])


def test_split_mismatch_with_batch_dim_fails_at_run_time(progs):
    x = mg.data("x", [None, 3])
    parts = L.split(x, 2, dim=0)
    with pytest.raises(ExecutionError, match=r"split: cannot split a dim of 3 into 2"):
        _run(progs[0], {"x": np.zeros((3, 3), "float32")}, parts)
