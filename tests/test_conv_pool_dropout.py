"""conv2d / pool2d / dropout beyond the op table: builders and layer classes (names, shapes,
bias, init), gradients through the bias, build-time errors, and dropout's randomness and modes."""

import math

import numpy as np
import pytest

import minigraph as mg
from minigraph.errors import GraphBuildError
from tests.cases.nn import conv2d_ref, pool2d_ref

rng = np.random.default_rng(3)


def build(fn):
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        out = fn()
    return main, startup, out


def run(main, startup, feed, fetch, scope=None):
    scope = scope or mg.Scope()
    exe = mg.Executor()
    exe.run(startup, scope=scope)
    return exe.run(main, feed=feed, fetch_list=fetch, scope=scope), scope


def op_types(program):
    return [op.type for op in program.global_block().ops]


# --- conv2d builder and Conv2D ----------------------------------------------------------


def test_conv2d_builder_names_shapes_and_bias_axis():
    def net():
        x = mg.data("x", [None, 3, 8, 8])
        return mg.layers.conv2d(x, num_filters=4, filter_size=3, padding=1, act="relu")

    main, startup, y = build(net)
    block = main.global_block()
    assert y.name == "conv2d_0.tmp_2" and y.shape == (-1, 4, 8, 8)
    assert block.var("conv2d_0.w_0").shape == (4, 3, 3, 3)
    assert block.var("conv2d_0.b_0").shape == (4,)
    assert op_types(main) == ["conv2d", "elementwise_add", "relu"]
    conv, add = block.ops[0], block.ops[1]
    assert conv.attr("paddings") == [1, 1] and conv.attr("strides") == [1, 1] and conv.attr("groups") == 1
    assert add.attr("axis") == 1
    # Paddle's default filter init: Normal(0, sqrt(2 / (kh * kw * in_channels)))
    init = next(op for op in startup.global_block().ops if "conv2d_0.w_0" in op.output_arg_names)
    assert init.type == "gaussian_random"
    assert init.attr("mean") == 0.0 and math.isclose(init.attr("std"), math.sqrt(2 / 27))


def test_conv2d_builder_nhwc_groups_no_bias_and_padding_forms():
    def net():
        x = mg.data("x", [None, 7, 7, 4], "float64")
        a = mg.layers.conv2d(x, 6, (3, 2), stride=(2, 1), padding=[1, 1, 0, 0], groups=2, data_format="NHWC")
        b = mg.layers.conv2d(x, 2, 3, padding=[1, 2, 0, 1], bias_attr=False, data_format="NHWC")
        c = mg.layers.conv2d(x, 2, 3, stride=2, padding="SAME", data_format="NHWC")
        return a, b, c

    main, _, (a, b, c) = build(net)
    block = main.global_block()
    assert block.var("conv2d_0.w_0").shape == (6, 2, 3, 2) and block.var("conv2d_0.w_0").dtype == "float64"
    assert a.shape == (-1, 4, 6, 6)
    convs = [op for op in block.ops if op.type == "conv2d"]
    assert convs[0].attr("paddings") == [1, 0]  # a symmetric 4-tuple collapses to a pair
    assert convs[1].attr("paddings") == [1, 2, 0, 1]
    assert convs[2].attr("padding_algorithm") == "SAME" and c.shape == (-1, 4, 4, 2)
    adds = [op for op in block.ops if op.type == "elementwise_add"]
    assert len(adds) == 2 and all(op.attr("axis") == 3 for op in adds)  # b has no bias
    assert b.shape == (-1, 8, 6, 2) and not block.has_var("conv2d_1.b_0")


def test_conv2d_default_init_statistics():
    def net():
        x = mg.data("x", [None, 8, 5, 5])
        return mg.layers.conv2d(x, 64, 3)

    main, startup, _ = build(net)
    startup.random_seed = 5
    scope = mg.Scope()
    mg.Executor().run(startup, scope=scope)
    w = np.array(scope.find_var("conv2d_0.w_0").get_tensor())
    assert abs(w.std() - math.sqrt(2 / 72)) < 0.01 and abs(w.mean()) < 0.01


def _numeric(loss_at, value, eps=1e-6):
    grad = np.zeros_like(value)
    for i in np.ndindex(value.shape):
        up, down = value.copy(), value.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (loss_at(up) - loss_at(down)) / (2 * eps)
    return grad


@pytest.mark.parametrize("data_format", ["NCHW", "NHWC"])
@pytest.mark.parametrize("use_layer", [False, True], ids=["builder", "Conv2D"])
def test_conv2d_gradients_of_input_filter_and_bias(data_format, use_layer):
    """float64 central differences through conv2d + bias + act for x, the filter and the bias."""
    x_shape = (2, 2, 5, 5) if data_format == "NCHW" else (2, 5, 5, 2)
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, *x_shape[1:]], "float64")
        x.stop_gradient = False
        if use_layer:
            conv = mg.nn.Conv2D(2, 3, 3, stride=2, padding=1, act="tanh", data_format=data_format, dtype="float64")
            y = conv(x)
        else:
            y = mg.layers.conv2d(x, 3, 3, stride=2, padding=1, act="tanh", data_format=data_format)
        w = mg.data("w", y.shape, "float64")
        loss = mg.layers.mean(mg.layers.elementwise_mul(y, w))
        fwd = main.clone()
        block = main.global_block()
        grads = mg.gradients([loss], [x, block.var("conv2d_0.w_0"), block.var("conv2d_0.b_0")])
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    values = {
        "x": rng.normal(size=x_shape),
        "conv2d_0.w_0": np.array(scope.find_var("conv2d_0.w_0").get_tensor()),
        "conv2d_0.b_0": rng.normal(size=3),  # nonzero, so the bias really enters tanh
    }
    weights = rng.normal(size=(2, *y.shape[1:]))
    scope.var("conv2d_0.b_0").set(values["conv2d_0.b_0"])
    analytic = exe.run(main, feed={"x": values["x"], "w": weights}, fetch_list=grads, scope=scope)

    def loss_with(name, value):
        vals = {**values, name: value}
        s = mg.Scope()
        s.var("conv2d_0.w_0").set(vals["conv2d_0.w_0"])
        s.var("conv2d_0.b_0").set(vals["conv2d_0.b_0"])
        return float(exe.run(fwd, feed={"x": vals["x"], "w": weights}, fetch_list=[loss.name], scope=s)[0])

    for (name, value), got in zip(values.items(), analytic):
        want = _numeric(lambda v, n=name: loss_with(n, v), value)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8, err_msg=name)


def test_conv2d_layer_forward_matches_reference_and_names():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        conv = mg.nn.Conv2D(4, 6, 3, stride=1, padding=[1, 0], dilation=(1, 2), groups=2, dtype="float64")
        x = mg.data("x", [None, 4, 5, 6], "float64")
        y = conv(x)
    assert conv.weight.name == "conv2d_0.w_0" and conv.weight.shape == (6, 2, 3, 3)
    assert conv.bias.name == "conv2d_0.b_0" and [p.name for p in conv.parameters()] == ["conv2d_0.w_0", "conv2d_0.b_0"]
    xv = rng.normal(size=(2, 4, 5, 6))
    (got,), scope = run(main, startup, {"x": xv}, [y])
    state = conv.state_dict(scope)
    want = conv2d_ref(xv, state["conv2d_0.w_0"], (1, 1), (1, 0), (1, 2), 2) + state["conv2d_0.b_0"][:, None, None]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_conv2d_float32_stays_float32():
    def net():
        x = mg.data("x", [None, 3, 6, 6])
        x.stop_gradient = False
        y = mg.layers.pool2d(mg.layers.conv2d(x, 2, 3, padding=1), 2, "avg", 2)
        y = mg.layers.dropout(y, 0.5, seed=1)
        loss = mg.layers.mean(y)
        return [y, *mg.gradients([loss], [x, main.global_block().var("conv2d_0.w_0")])]

    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        fetch = net()
    values, _ = run(main, startup, {"x": rng.normal(size=(2, 3, 6, 6)).astype("float32")}, fetch)
    assert [v.dtype for v in values] == [np.float32] * 3


def test_conv2d_channel_mismatch_in_layer():
    with mg.program_guard(mg.Program(), mg.Program()):
        conv = mg.nn.Conv2D(3, 4, 3)
        with pytest.raises(GraphBuildError, match="conv2d_0.*3 input channels.*has 5"):
            conv(mg.data("x", [None, 5, 8, 8]))


# --- pool2d builder and Pool2D ------------------------------------------------------------


def test_pool2d_builder_and_layer():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 2, 7, 7], "float64")
        a = mg.layers.pool2d(x, 3, "avg", 2, 1, exclusive=False, ceil_mode=True)
        b = mg.nn.Pool2D(pool_size=2, pool_type="max", pool_stride=2)(x)
        c = mg.nn.Pool2D(global_pooling=True, pool_type="avg")(x)
    assert (a.name, b.name, c.name) == ("pool2d_0.tmp_0", "pool2d_1.tmp_0", "pool2d_2.tmp_0")
    assert a.shape == (-1, 2, 4, 4) and b.shape == (-1, 2, 3, 3) and c.shape == (-1, 2, 1, 1)
    xv = rng.normal(size=(2, 2, 7, 7))
    (av, bv, cv), _ = run(main, startup, {"x": xv}, [a, b, c])
    np.testing.assert_allclose(av, pool2d_ref(xv, (3, 3), (2, 2), (1, 1), "avg", ceil_mode=True, exclusive=False))
    np.testing.assert_allclose(bv, pool2d_ref(xv, (2, 2), (2, 2)))
    np.testing.assert_allclose(cv, xv.mean(axis=(2, 3), keepdims=True))


def test_max_pool_gradient_goes_to_the_first_maximum_on_ties():
    def net():
        x = mg.data("x", [1, 1, 2, 4], "float64")
        x.stop_gradient = False
        y = mg.layers.pool2d(x, 2, "max", 2)
        return mg.gradients([mg.layers.reduce_sum(y)], [x])[0]

    main, startup, g = build(net)
    xv = np.array([[[[1.0, 3.0, 5.0, 5.0], [3.0, 2.0, 5.0, 5.0]]]])
    (gv,), _ = run(main, startup, {"x": xv}, [g])
    np.testing.assert_array_equal(gv, [[[[0, 1, 1, 0], [0, 0, 0, 0]]]])


# --- build-time errors --------------------------------------------------------------------


def _append(op, inputs, attrs, outputs):
    main = mg.Program()
    block = main.global_block()
    ins = {slot: block.create_var(f"in_{slot}", shape, "float32") for slot, shape in inputs.items()}
    return block.append_op(op, ins, {o: block.create_var(f"out_{o}") for o in outputs}, attrs)


@pytest.mark.parametrize(
    "x_shape, w_shape, attrs, message",
    [
        ((2, 3, 4, 4), (2, 3, 5, 5), {}, "kernel height 5 is larger than the padded input height 4"),
        ((2, 3, 4, 4), (2, 3, 3, 3), {"dilations": [2, 2]}, r"kernel height 5 \(size 3 at dilation 2\)"),
        ((2, 3, 4, 4), (2, 1, 3, 3), {"groups": 2}, "3 input channels .* not divisible by groups=2"),
        ((2, 4, 4, 4), (2, 3, 3, 3), {}, "takes 3 channels per group.*Input 'in_Input' has 4"),
        ((2, 4, 4, 4), (3, 2, 3, 3), {"groups": 2}, "3 output channels .* not divisible by groups=2"),
        ((2, 3, 4, 4), (2, 3, 3, 3), {"strides": [0, 1]}, "strides must be >= 1"),
        ((2, 3, 4, 4), (2, 3, 3, 3), {"dilations": [1, 0]}, "dilations must be >= 1"),
        ((2, 3, 4, 4), (2, 3, 3, 3), {"paddings": [1, 2, 3]}, "paddings must be a list of 2 or 4 ints"),
        ((2, 3, 4, 4), (2, 3, 3, 3), {"data_format": "NWHC"}, "data_format must be one of"),
        ((2, 3, 4), (2, 3, 3, 3), {}, "must be 4-D"),
    ],
)
def test_conv2d_op_build_errors_name_the_op(x_shape, w_shape, attrs, message):
    with pytest.raises(GraphBuildError, match=r"op conv2d\(") as err:
        _append("conv2d", {"Input": x_shape, "Filter": w_shape}, attrs, ["Output"])
    assert err.match(message)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"num_filters": 4, "filter_size": 9},
            "conv2d_0: conv2d on 'x'.*kernel height 9 is larger than the padded input height 8",
        ),
        (
            {"num_filters": 4, "filter_size": 3, "groups": 2},
            "conv2d_0: conv2d input channels \\(3\\) are not divisible",
        ),
        ({"num_filters": 3, "filter_size": 1, "groups": 3, "stride": 0}, "conv2d_0: stride must be >= 1"),
        ({"num_filters": 4, "filter_size": 1, "dilation": (1, 0)}, "conv2d_0: dilation must be >= 1"),
        ({"num_filters": 4, "filter_size": 3, "padding": "FULL"}, "conv2d_0: padding must be"),
        ({"num_filters": 3, "filter_size": 3, "groups": 3, "data_format": "NHWC"}, "conv2d_0: conv2d input channels"),
    ],
)
def test_conv2d_builder_errors(kwargs, message):
    main = mg.Program()
    with mg.program_guard(main, mg.Program()):
        x = mg.data("x", [None, 3, 8, 8])
        with pytest.raises(GraphBuildError, match=message):
            mg.layers.conv2d(x, **kwargs)
    assert list(main.global_block().vars) == ["x"]  # checked before any parameter is created


@pytest.mark.parametrize(
    "attrs, message",
    [
        ({"ksize": [5, 5]}, "kernel height 5 is larger than the padded input height 4"),
        ({"ksize": [2, 2], "pooling_type": "min"}, "pooling_type must be one of"),
        ({"ksize": [2, 0]}, "kernel size must be >= 1"),
        ({"ksize": [2, 2], "strides": [2, 0]}, "strides must be >= 1"),
    ],
)
def test_pool2d_op_build_errors_name_the_op(attrs, message):
    with pytest.raises(GraphBuildError, match=r"op pool2d\(") as err:
        _append("pool2d", {"X": (2, 3, 4, 4)}, attrs, ["Out"])
    assert err.match(message)


def test_pool2d_builder_errors():
    with mg.program_guard(mg.Program(), mg.Program()):
        x = mg.data("x", [None, 3, 8, 8])
        with pytest.raises(GraphBuildError, match="pool2d_0: pool2d needs pool_size unless global_pooling"):
            mg.layers.pool2d(x)
        with pytest.raises(GraphBuildError, match="pool2d_1: pool2d pool_type must be one of"):
            mg.layers.pool2d(x, 2, "sum")
        with pytest.raises(GraphBuildError, match="pool2d_2: input 'y' must be 4-D"):
            mg.layers.pool2d(mg.data("y", [None, 8]), 2)


def test_dropout_build_errors():
    with pytest.raises(GraphBuildError, match=r"op dropout\(.*dropout_prob must be in \[0, 1\]"):
        _append("dropout", {"X": (2, 3)}, {"dropout_prob": 1.5}, ["Out", "Mask"])
    with pytest.raises(GraphBuildError, match="op dropout.*dropout_implementation must be one of"):
        _append("dropout", {"X": (2, 3)}, {"dropout_implementation": "scale"}, ["Out", "Mask"])
    with mg.program_guard(mg.Program(), mg.Program()):
        x = mg.data("x", [None, 3])
        with pytest.raises(GraphBuildError, match="dropout_0: dropout_prob"):
            mg.layers.dropout(x, -0.1)
        with pytest.raises(GraphBuildError, match="dropout"):
            mg.nn.Dropout(p=2.0)


# --- dropout ----------------------------------------------------------------------------------


def _dropout_program(p, seed=None, impl="downgrade_in_infer", is_test=False, shape=(50, 40)):
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, shape[1]], "float64")
        x.stop_gradient = False
        y = mg.layers.dropout(x, p, is_test=is_test, seed=seed, dropout_implementation=impl)
        loss = mg.layers.mean(y)
        (gx,) = mg.gradients([loss], [x])
    return main, startup, y, gx


def _run_dropout(main, x, fetch):
    return mg.Executor().run(main, feed={"x": x}, fetch_list=fetch, scope=mg.Scope())


def test_dropout_names_and_mask_variable():
    main, _, y, _ = _dropout_program(0.5)
    block = main.global_block()
    op = block.ops[0]
    assert op.type == "dropout" and y.name == "dropout_0.tmp_0"
    mask = block.var(op.output("Mask")[0])
    assert mask.name == "dropout_0.tmp_1" and mask.dtype == "uint8" and mask.stop_gradient
    assert op.attr("fix_seed") is False and op.attr("seed") == 0
    main, _, _, _ = _dropout_program(0.5, seed=9)
    assert main.global_block().ops[0].attr("fix_seed") is True and main.global_block().ops[0].attr("seed") == 9


@pytest.mark.parametrize("impl", ["downgrade_in_infer", "upscale_in_train"])
def test_dropout_train_output_and_gradient_use_the_mask(impl):
    p = 0.3
    main, _, y, gx = _dropout_program(p, impl=impl)
    x = rng.normal(size=(50, 40))
    out, mask, grad = _run_dropout(main, x, [y, "dropout_0.tmp_1", gx])
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    assert abs(mask.mean() - (1 - p)) < 0.05  # 2000 draws: the kept fraction is about 1 - p
    scale = 1 / (1 - p) if impl == "upscale_in_train" else 1.0
    np.testing.assert_allclose(out, x * mask * scale, rtol=1e-12)
    # the backward reuses the forward's mask (same run, fresh-entropy seed)
    np.testing.assert_allclose(grad, mask * scale / x.size, rtol=1e-12)


@pytest.mark.parametrize("impl, factor", [("downgrade_in_infer", 0.7), ("upscale_in_train", 1.0)])
def test_dropout_test_mode_scaling(impl, factor):
    main, _, y, gx = _dropout_program(0.3, impl=impl, is_test=True)
    x = rng.normal(size=(5, 40))
    out, grad = _run_dropout(main, x, [y, gx])
    np.testing.assert_allclose(out, x * factor, rtol=1e-12)
    np.testing.assert_allclose(grad, np.full_like(x, factor / x.size), rtol=1e-12)


def test_dropout_fixed_seed_repeats_and_no_seed_does_not():
    main, _, y, _ = _dropout_program(0.5, seed=123)
    x = np.ones((50, 40))
    exe, scope = mg.Executor(), mg.Scope()
    first = exe.run(main, feed={"x": x}, fetch_list=[y], scope=scope)[0]
    second = exe.run(main, feed={"x": x}, fetch_list=[y], scope=scope)[0]
    np.testing.assert_array_equal(first, second)
    main2, _, y2, _ = _dropout_program(0.5, seed=123)  # an identically built program
    np.testing.assert_array_equal(_run_dropout(main2, x, [y2])[0], first)
    main3, _, y3, _ = _dropout_program(0.5, seed=124)
    assert not np.array_equal(_run_dropout(main3, x, [y3])[0], first)
    free, _, yf, _ = _dropout_program(0.5)
    assert not np.array_equal(_run_dropout(free, x, [yf])[0], _run_dropout(free, x, [yf])[0])


def test_dropout_program_random_seed_makes_masks_repeat():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 40], "float64")
        a = mg.layers.dropout(x, 0.5)
        b = mg.layers.dropout(x, 0.5)
    main.random_seed = 7
    xv = np.ones((50, 40))
    a1, b1 = _run_dropout(main, xv, [a, b])
    a2, b2 = _run_dropout(main, xv, [a, b])
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    assert not np.array_equal(a1, b1)  # each op gets its own stream


def test_dropout_edge_probabilities():
    x = rng.normal(size=(5, 40))
    with np.errstate(all="raise"):
        main, _, y, gx = _dropout_program(1.0, impl="upscale_in_train")
        out, grad = _run_dropout(main, x, [y, gx])
    assert not out.any() and not grad.any()
    main, _, y, _ = _dropout_program(0.0)
    np.testing.assert_array_equal(_run_dropout(main, x, [y])[0], x)


def test_clone_for_test_flips_dropout_to_test_mode():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 40], "float64")
        y = mg.layers.dropout(x, 0.25)
        test_prog = main.clone(for_test=True)
    assert main.global_block().ops[0].attr("is_test") is False
    assert test_prog.global_block().ops[0].attr("is_test") is True
    xv = rng.normal(size=(6, 40))
    np.testing.assert_allclose(_run_dropout(test_prog, xv, [y.name])[0], xv * 0.75, rtol=1e-12)


def test_dropout_layer_mode_comes_from_training_flag():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 40], "float64")
        drop = mg.nn.Dropout(p=0.2)
        train_out = drop(x)
        drop.eval()
        test_out = drop(x)
        up = mg.nn.Dropout(p=0.2, dropout_implementation="upscale_in_train").eval()(x)
    ops = [op for op in main.global_block().ops if op.type == "dropout"]
    assert [op.attr("is_test") for op in ops] == [False, True, True]
    assert train_out.name == "dropout_0.tmp_0" and test_out.name == "dropout_0.tmp_2"
    xv = rng.normal(size=(3, 40))
    got_test, got_up = _run_dropout(main, xv, [test_out, up])
    np.testing.assert_allclose(got_test, xv * 0.8, rtol=1e-12)
    np.testing.assert_allclose(got_up, xv, rtol=1e-12)


def test_avg_pool_ceil_mode_inclusive_divides_by_the_window_inside_the_padded_input():
    """All-ones input, k=3, s=2, ceil_mode, exclusive=False. Padding cells count; the cells
    ceil_mode adds past the padded border do not (minigraph once divided by 9 everywhere,
    giving 6/9 and 4/9 on the last row and column without padding)."""
    outs = {}
    for pad in (0, 1):
        main, startup = mg.Program(), mg.Program()
        with mg.program_guard(main, startup):
            x = mg.data("x", [None, 1, 8, 8], "float64")
            y = mg.layers.pool2d(x, 3, "avg", 2, pad, ceil_mode=True, exclusive=False)
        (outs[pad],), _ = run(main, startup, {"x": np.ones((1, 1, 8, 8))}, [y])
    np.testing.assert_allclose(outs[0][0, 0], np.ones((4, 4)))  # every window: all real cells counted
    # pad 1: first row/col windows hold 1 padding row (6 real of 9 counted); the last ones
    # cover 1 real + 1 padding row inside the padded border, and 1 row past it (not counted).
    edge = np.array([4 / 9, 6 / 9, 6 / 9, 6 / 9, 2 / 6])
    np.testing.assert_allclose(outs[1][0, 0, 0], edge)
    np.testing.assert_allclose(outs[1][0, 0, -1], [2 / 6, 3 / 6, 3 / 6, 3 / 6, 1 / 4])


def test_window_geometry_is_remembered_but_still_validated():
    """geometry() keeps what it computed for all-int arguments; a float or bool equal to a
    remembered int is still refused, and a remembered geometry is the same object."""
    from minigraph.errors import GraphBuildError
    from minigraph.ops.spatial import geometry

    first = geometry((9, 9), [3, 3], [2, 2], [1, 1], [1, 1], "EXPLICIT")
    assert first.out == (5, 5)
    assert geometry((9, 9), (3, 3), (2, 2), (1, 1), (1, 1), "EXPLICIT") is first
    with pytest.raises(GraphBuildError, match="kernel size must be a list of 2 ints"):
        geometry((9, 9), [3.0, 3.0], [2, 2], [1, 1], [1, 1], "EXPLICIT")
    with pytest.raises(GraphBuildError, match="strides must be a list of 2 ints"):
        geometry((9, 9), [3, 3], [True, True], [1, 1], [1, 1], "EXPLICIT")
    with pytest.raises(GraphBuildError, match="padding_algorithm must be one of"):
        geometry((9, 9), [3, 3], [2, 2], [1, 1], [1, 1], ["SAME"])
    assert geometry((9, 9), [3, 3], [2, 2], [1, 1], [1, 1], "EXPLICIT", ceil_mode=True).out == (5, 5)
    assert geometry((10, 10), [3, 3], [2, 2], [1, 1], [0, 0], "EXPLICIT", ceil_mode=True).out == (5, 5)
    assert geometry((10, 10), [3, 3], [2, 2], [1, 1], [0, 0], "EXPLICIT").out == (4, 4)
