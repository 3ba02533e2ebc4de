"""layers.batch_norm and nn.BatchNorm: the variables they create (paddle_behaviour.md 1.1),
named statistics shared between ops and programs (1.9), test programs (1.5 and difference 5),
and the build-time errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigraph as mg
from minigraph.initializer import Constant
from minigraph.ops.norm import mode_text

X0 = (((np.arange(24) * 7) % 11 - 5) / 4).reshape(2, 3, 2, 2).astype("float32")
TOL = {"rtol": 1e-6, "atol": 1e-6}


def _programs():
    return mg.Program(), mg.Program()


def _init_values(startup):
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    return {n: np.array(scope.find_var(n).get_tensor()) for n in scope.local_var_names()}


# --- 1.1 variables ---------------------------------------------------------------------------------


def test_variables_created_by_one_call():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3, 4, 4])
        out = mg.layers.batch_norm(x, act="relu")
    block = main.global_block()
    scale, bias, mean, var = (block.var(f"batch_norm_0.{s}") for s in ("w_0", "b_0", "w_1", "w_2"))
    assert [p.name for p in main.all_parameters()] == [scale.name, bias.name, mean.name, var.name]
    for p in (scale, bias):
        assert p.trainable and not p.stop_gradient and p.persistable and p.shape == (3,)
    for p in (mean, var):
        assert not p.trainable and p.stop_gradient and p.persistable and p.do_model_average
    (op,) = [o for o in block.ops if o.type == "batch_norm"]
    assert op.output("MeanOut") == op.input("Mean") == [mean.name]
    assert op.output("VarianceOut") == op.input("Variance") == [var.name]
    assert op.output("SavedMean") == ["batch_norm_0.tmp_0"]
    assert op.output("SavedVariance") == ["batch_norm_0.tmp_1"]
    assert op.output("Y") == ["batch_norm_0.tmp_2"]
    assert block.var("batch_norm_0.tmp_0").stop_gradient and block.var("batch_norm_0.tmp_1").stop_gradient
    assert out.name == "batch_norm_0.tmp_3" and block.ops[-1].type == "relu"
    assert block.var("batch_norm_0.tmp_2").shape == (-1, 3, 4, 4)
    assert op.attrs == {
        "epsilon": 1e-5,
        "momentum": 0.9,
        "is_test": False,
        "data_layout": "NCHW",
        "use_global_stats": False,
        "trainable_statistics": False,
    }
    persistables = sorted(v.name for v in main.list_vars() if v.persistable)
    assert persistables == sorted(p.name for p in main.all_parameters())  # no extra state
    values = _init_values(startup)
    np.testing.assert_array_equal(values["batch_norm_0.w_0"], [1, 1, 1])
    np.testing.assert_array_equal(values["batch_norm_0.b_0"], [0, 0, 0])
    np.testing.assert_array_equal(values["batch_norm_0.w_1"], [0, 0, 0])
    np.testing.assert_array_equal(values["batch_norm_0.w_2"], [1, 1, 1])
    assert [o.type for o in startup.global_block().ops] == ["fill_constant"] * 4


def test_param_attr_and_bias_attr_are_honoured():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 2], dtype="float64")
        mg.layers.batch_norm(
            x,
            param_attr=mg.ParamAttr(name="gamma", initializer=Constant(0.5), learning_rate=0.1),
            bias_attr=mg.ParamAttr(name="beta", initializer=Constant(0.25), trainable=False),
            do_model_average_for_mean_and_var=False,
        )
    block = main.global_block()
    gamma, beta = block.var("gamma"), block.var("beta")
    assert gamma.optimize_attr == {"learning_rate": 0.1} and gamma.trainable
    assert not beta.trainable and beta.stop_gradient
    assert gamma.dtype == beta.dtype == "float64"
    # the statistics take the first free w_ suffixes, because the scale was named
    mean, var = block.var("batch_norm_0.w_0"), block.var("batch_norm_0.w_1")
    assert not mean.do_model_average and not var.do_model_average
    assert gamma.do_model_average  # scale/bias keep the ParamAttr default
    values = _init_values(startup)
    np.testing.assert_array_equal(values["gamma"], [0.5, 0.5])
    np.testing.assert_array_equal(values["beta"], [0.25, 0.25])
    assert values["batch_norm_0.w_1"].dtype == np.float64


def test_name_argument_sets_the_prefix():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        mg.layers.batch_norm(mg.data("x", [None, 2]), name="bn_a")
    assert {"bn_a.w_0", "bn_a.b_0", "bn_a.w_1", "bn_a.w_2", "bn_a.tmp_2"} <= set(main.global_block().vars)


def test_in_place_returns_the_input_variable():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3])
        h = mg.layers.scale(x, 1.0)
        assert mg.layers.batch_norm(h, in_place=True) is h
        act_out = mg.layers.batch_norm(h, in_place=True, act="relu")
        assert act_out is not h and act_out.name == "batch_norm_1.tmp_2"


# --- 1.9 named statistics ------------------------------------------------------------------------


def test_named_statistics_are_shared_and_updated_in_order():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.data("x", [2, 3, 2, 2])
        mg.layers.batch_norm(x, moving_mean_name="mm", moving_variance_name="mv")
        mg.layers.batch_norm(mg.layers.scale(x, 2.0), moving_mean_name="mm", moving_variance_name="mv")
        with pytest.raises(mg.GraphBuildError, match="'mm'.*\\[3\\].*\\[4\\]"):
            mg.layers.batch_norm(mg.data("x4", [2, 4]), moving_mean_name="mm")
    inits = [op for op in startup.global_block().ops if "mm" in op.output_arg_names]
    assert len(inits) == 1
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    exe.run(main, feed={"x": X0}, scope=scope)
    np.testing.assert_allclose(scope.find_var("mm").get_tensor(), [0.054375, -0.0090625, -0.0725], **TOL)
    np.testing.assert_allclose(scope.find_var("mv").get_tensor(), [1.1449609, 1.0660058, 1.1239063], **TOL)


def test_later_creation_sets_the_flags():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3])
        mg.layers.batch_norm(x, moving_mean_name="mm")
        mg.layers.batch_norm(x, moving_mean_name="mm", do_model_average_for_mean_and_var=False)
    assert not main.global_block().var("mm").do_model_average


def test_same_name_for_mean_and_variance_is_one_variable_starting_at_zero():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        mg.layers.batch_norm(mg.data("x", [None, 3]), moving_mean_name="stat", moving_variance_name="stat")
    np.testing.assert_array_equal(_init_values(startup)["stat"], [0, 0, 0])


def _bn_net(x_shape, is_test):
    """Named everything, so a separately built program shares the trained values."""
    x = mg.data("x", x_shape)
    h = mg.layers.batch_norm(
        x,
        is_test=is_test,
        param_attr=mg.ParamAttr(name="bn_scale"),
        bias_attr=mg.ParamAttr(name="bn_bias"),
        moving_mean_name="bn_mean",
        moving_variance_name="bn_var",
    )
    return x, h


def test_training_and_separately_built_test_program_share_statistics():
    rng = np.random.default_rng(0)
    train, startup = _programs()
    with mg.program_guard(train, startup):
        _, h = _bn_net([None, 3, 2, 2], is_test=False)
        cloned = train.clone(for_test=True)
    test, test_startup = _programs()
    with mg.program_guard(test, test_startup):
        _, h_test = _bn_net([None, 3, 2, 2], is_test=True)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    for _ in range(5):
        exe.run(train, feed={"x": rng.normal(1.0, 2.0, size=(4, 3, 2, 2)).astype("float32")}, scope=scope)
    scope.var("bn_scale").set(np.array([1.5, 0.5, 2.0], "float32"))
    mean, var = (np.array(scope.find_var(n).get_tensor()) for n in ("bn_mean", "bn_var"))
    assert np.all(mean != 0) and np.all(var != 1)
    xb = rng.normal(size=(3, 3, 2, 2)).astype("float32")
    before = {n: np.array(scope.find_var(n).get_tensor()) for n in scope.local_var_names()}
    (y_test,) = exe.run(test, feed={"x": xb}, fetch_list=[h_test], scope=scope)
    (y_clone,) = exe.run(cloned, feed={"x": xb}, fetch_list=[h], scope=scope)
    np.testing.assert_array_equal(y_test, y_clone)
    want = (xb - mean.reshape(1, 3, 1, 1)) / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(y_test, want * np.array([1.5, 0.5, 2.0]).reshape(1, 3, 1, 1), rtol=1e-5, atol=1e-5)
    for n, v in before.items():  # the test programs changed nothing
        np.testing.assert_array_equal(scope.find_var(n).get_tensor(), v, err_msg=n)


# --- 1.5 / difference 5: clone(for_test=True) -------------------------------------------------------


def test_clone_for_test_with_trainable_statistics():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3, 2, 2])
        x.stop_gradient = False
        plain = mg.nn.BatchNorm(3)
        batchy = mg.nn.BatchNorm(3, trainable_statistics=True)
        y1, y2 = plain(x), batchy(x)
        loss = mg.layers.mean(mg.layers.elementwise_add(y1, y2))
        mg.append_backward(loss)
        test = main.clone(for_test=True)
    ops = [op for op in test.global_block().ops if op.type == "batch_norm"]
    assert [op.attr("is_test") for op in ops] == [True, True]
    assert [op.attr("trainable_statistics") for op in ops] == [False, True]
    assert [mode_text(op.attrs) for op in ops] == [
        "running statistics (statistics unchanged)",
        "batch statistics (trainable_statistics; running stats unchanged)",
    ]
    assert not any(op.type.endswith("_grad") for op in test.global_block().ops)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    exe.run(main, feed={"x": X0 * 3 + 1}, scope=scope)  # one training step moves the statistics
    before = {n: np.array(scope.find_var(n).get_tensor()) for n in scope.local_var_names()}
    r1, r2 = exe.run(test, feed={"x": X0}, fetch_list=[y1, y2], scope=scope)
    for n, v in before.items():
        np.testing.assert_array_equal(scope.find_var(n).get_tensor(), v, err_msg=n)
    mean, var = before[plain.moving_mean.name], before[plain.moving_variance.name]
    np.testing.assert_allclose(r1, (X0 - mean.reshape(1, 3, 1, 1)) / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5), **TOL)
    np.testing.assert_allclose(r2.ravel()[:4], [-1.7386239, 0.3779617, -0.8315157, 1.2850697], **TOL)


# --- nn.BatchNorm -----------------------------------------------------------------------------------


def test_batchnorm_class_attributes_and_names():
    from minigraph.nn.layer.norm import BatchNorm

    assert BatchNorm is mg.nn.BatchNorm
    main, startup = _programs()
    with mg.program_guard(main, startup):
        bn = BatchNorm(3, act="relu", moving_mean_name="m", dtype="float64")
        assert bn.weight.name == "batch_norm_0.w_0" and bn.bias.name == "batch_norm_0.b_0"
        assert bn.moving_mean.name == "m" and bn.moving_variance.name == "batch_norm_0.w_1"
        assert [p.name for p in bn.parameters()] == ["batch_norm_0.w_0", "batch_norm_0.b_0", "m", "batch_norm_0.w_1"]
        assert bn.weight.dtype == "float64"
        out = bn(mg.data("x", [None, 3], dtype="float64"))
        assert out.name == "batch_norm_0.tmp_3" and main.global_block().ops[-1].type == "relu"
        second = BatchNorm(3)
        assert second.weight.name == "batch_norm_1.w_0"
    values = _init_values(startup)
    np.testing.assert_array_equal(values["m"], [0, 0, 0])
    np.testing.assert_array_equal(values["batch_norm_0.w_1"], [1, 1, 1])


def test_batchnorm_is_test_comes_from_the_constructor_in_static_mode():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3])
        bn = mg.nn.BatchNorm(3)
        bn.eval()  # static mode: no effect on the op (as in Paddle)
        bn(x)
        frozen = mg.nn.BatchNorm(3, is_test=True, use_global_stats=True, momentum=0.5, epsilon=1e-3)
        frozen(x)
    a, b = (op for op in main.global_block().ops if op.type == "batch_norm")
    assert a.attr("is_test") is False and bn._op_is_test() is False
    assert b.attr("is_test") and b.attr("use_global_stats") and b.attr("momentum") == 0.5 and b.attr("epsilon") == 1e-3


def test_batchnorm_in_place_and_layout():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 2, 2, 3])
        h = mg.layers.scale(x, 1.0)
        assert mg.nn.BatchNorm(3, data_layout="NHWC", in_place=True)(h) is h


def test_param_attr_false_keeps_a_fixed_parameter():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        bn = mg.nn.BatchNorm(2, param_attr=False, bias_attr=False)
    assert not bn.weight.trainable and not bn.bias.trainable
    values = _init_values(startup)
    np.testing.assert_array_equal(values[bn.weight.name], [1, 1])
    np.testing.assert_array_equal(values[bn.bias.name], [0, 0])


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, kwargs, error, pattern",
    [
        ([3], {}, mg.GraphBuildError, r"batch_norm_0.*'x'.*expected 2D or 3D or 4D or 5D input \(got 1D input"),
        ([2, 3, 1, 1, 1, 2], {}, mg.GraphBuildError, r"got 6D input, input shape is: \[2, 3, 1, 1, 1, 2\]"),
        ([2, 3], {"data_layout": "NCWH"}, mg.GraphBuildError, r"unsupported data layout: NCWH"),
        ([2, -1, 3], {}, mg.GraphBuildError, r"unknown channel dimension.*axis 1 under data_layout='NCHW'"),
        ([2, 3], {"epsilon": 0.0}, mg.GraphBuildError, r"batch_norm_0: epsilon must be a positive number, got 0.0"),
        ([2, 3], {"epsilon": -1e-5}, mg.GraphBuildError, r"epsilon must be a positive"),
        ([2, 3], {"momentum": 1.5}, mg.GraphBuildError, r"momentum must be a number in \[0, 1\], got 1.5"),
        ([2, 3], {"momentum": -0.1}, mg.GraphBuildError, r"momentum must be"),
    ],
)
def test_build_errors(shape, kwargs, error, pattern):
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape)
        with pytest.raises(error, match=pattern):
            mg.layers.batch_norm(x, **kwargs)
    assert not main.all_parameters()  # nothing was half-built


def test_integer_input_is_a_type_error():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.data("ids", [2, 3], dtype="int32")
        with pytest.raises(mg.errors.OpTypeError, match=r"'ids' must be float32 or float64, but received int32"):
            mg.layers.batch_norm(x)
        with pytest.raises(TypeError, match=r"dtype must be float32 or float64"):
            mg.nn.BatchNorm(3, dtype="int64")


def test_momentum_variable_is_refused():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.data("x", [2, 3])
        m = mg.data("m", [1])
        with pytest.raises(mg.GraphBuildError, match="momentum given as a Variable"):
            mg.layers.batch_norm(x, momentum=m)
        with pytest.raises(mg.GraphBuildError, match="momentum given as a Variable"):
            mg.nn.BatchNorm(3, momentum=m)


@pytest.mark.parametrize(
    "shape, layout, pattern",
    [
        ([2, 4, 5, 5], "NCHW", r"batch_norm\(X=x.*Scale 'batch_norm_0.w_0' has shape \[3\] but input X 'x' "
         r"\[2, 4, 5, 5\] has 4 channels on axis 1 under data_layout='NCHW'"),
        ([2, 3, 5, 4], "NHWC", r"has 4 channels on axis 3 under data_layout='NHWC'"),
    ],
)  # fmt: skip
def test_channel_mismatch_names_the_layout(shape, layout, pattern):
    main, startup = _programs()
    with mg.program_guard(main, startup):
        bn = mg.nn.BatchNorm(3, data_layout=layout)
        with pytest.raises(mg.GraphBuildError, match=pattern):
            bn(mg.data("x", shape))


def test_batchnorm_constructor_errors():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        with pytest.raises(mg.GraphBuildError, match="num_channels must be a positive int"):
            mg.nn.BatchNorm(0)
        with pytest.raises(mg.GraphBuildError, match="unsupported data layout: NCL"):
            mg.nn.BatchNorm(3, data_layout="NCL")
        with pytest.raises(mg.GraphBuildError, match="epsilon"):
            mg.nn.BatchNorm(3, epsilon=0)


def test_op_level_errors():
    """Someone wiring the op by hand gets the same checks from shape inference."""
    main, startup = _programs()
    block = main.global_block()
    with mg.program_guard(main, startup):
        x = mg.data("x", [4, 3])
        stats = {s: block.create_var(s.lower(), [3], persistable=True) for s in ("Scale", "Bias", "Mean", "Variance")}
        half = block.create_var("half", [3], dtype="float64", persistable=True)

        def wire(**attrs):
            outs = {"Y": "y", "MeanOut": "mean", "VarianceOut": "variance", "SavedMean": "sm", "SavedVariance": "sv"}
            return block.append_op("batch_norm", {"X": x, **stats}, outs, attrs)

        with pytest.raises(mg.GraphBuildError, match="epsilon must be a positive"):
            wire(epsilon=0.0)
        with pytest.raises(mg.GraphBuildError, match="unsupported data layout: NDHWC"):
            wire(data_layout="NDHWC")
        stats["Mean"] = half
        with pytest.raises(mg.errors.OpTypeError, match="input Mean 'half' is float64 but X 'x' is float32"):
            wire()


def test_channel_count_checked_at_run_time_when_unknown_at_build_time():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, None])
        block = main.global_block()
        stats = {s: block.create_var(s.lower(), [3], persistable=True) for s in ("Scale", "Bias", "Mean", "Variance")}
        outs = {"Y": "y", "MeanOut": "mean", "VarianceOut": "variance", "SavedMean": "sm", "SavedVariance": "sv"}
        block.append_op("batch_norm", {"X": x, **stats}, outs)
    scope = mg.Scope()
    for name, value in (("scale", 1.0), ("bias", 0.0), ("mean", 0.0), ("variance", 1.0)):
        scope.var(name).set(np.full(3, value, "float32"))
    with pytest.raises(mg.ExecutionError, match=r"(?s)batch_norm.*has 4 channels under data_layout='NCHW'"):
        mg.Executor().run(main, feed={"x": np.ones((2, 4), "float32")}, scope=scope)


# --- eager mode ---------------------------------------------------------------------------------------


def test_eager_batchnorm_follows_train_and_eval():
    rng = np.random.default_rng(0)
    x_np = rng.random((3, 10, 3, 7)).astype("float32")
    with mg.dygraph.guard():
        x = mg.dygraph.to_variable(x_np)
        bn = mg.nn.BatchNorm(10)
        y = bn(x)  # the seed's example
        assert tuple(y.shape) == (3, 10, 3, 7)
        mu = x_np.mean(axis=(0, 2, 3))
        np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mu, rtol=1e-5)
        bn.eval()
        assert bn._op_is_test()
        before = bn.moving_mean.numpy().copy()
        y_eval = bn(x).numpy()
        np.testing.assert_array_equal(bn.moving_mean.numpy(), before)  # eval: running statistics, no update
        mean, var = before.reshape(1, 10, 1, 1), bn.moving_variance.numpy().reshape(1, 10, 1, 1)
        np.testing.assert_allclose(y_eval, (x_np - mean) / np.sqrt(var + 1e-5), rtol=1e-5, atol=1e-5)
