"""BuildStrategy: the executor's compile-time passes, each compared on and off.

Programs are built from the batch_norm op table's modes and layouts (conv2d or fc, bias,
batch_norm, relu, pool, fc, loss; with and without backward and an optimizer) and from the
op tables' single-op rows; every pass must leave the fetched values and the updated
parameters equal to float rounding, and leave `Program.verify()` true.
"""

import numpy as np
import pytest

import minigraph as mg
from minigraph.ops import backend
from minigraph.passes import (
    fold_batch_norm_ops,
    fuse_bias_bn_act,
    fuse_bn_act,
    fuse_conv_epilogue,
    fuse_elewise_add_act,
    prune_dead_outputs,
)
from minigraph.testing import run_op
from tests.cases import all_cases
from tests.cases.norm import MODES
from tests.test_ops import NO_NUMBA

OFF = mg.BuildStrategy.none()


def only(switch):
    s = mg.BuildStrategy.none()
    setattr(s, switch, True)
    return s


SINGLE = {
    "fold": only("fold_batch_norm"),
    "fuse": only("fuse_bn_act_ops"),
    "fuse_bias": mg.BuildStrategy(**{k: k in ("fuse_bn_act_ops", "fuse_bias_bn_act_ops") for k in vars(OFF)}),
    "fuse_add": only("fuse_elewise_add_act_ops"),
    "conv_epilogue": only("fuse_conv_epilogue"),
    "prune": only("prune_dead_outputs"),
    "all": mg.BuildStrategy(),
}


def cnn(mode_attrs, layout="NCHW", linear="conv", train=True, seed=3):
    """conv/fc -> bias -> batch_norm(mode) -> relu -> pool -> fc -> loss (+ SGD when train)."""
    main, startup = mg.Program(), mg.Program()
    main.random_seed = startup.random_seed = seed
    with mg.program_guard(main, startup):
        shape = [None, 3, 6, 6] if layout == "NCHW" else [None, 6, 6, 3]
        x = mg.data("x", shape if linear == "conv" else [None, 7])
        label = mg.data("label", [None, 1], dtype="int64")
        if linear == "conv":
            h = mg.layers.conv2d(x, 4, 3, padding=1, data_format=layout)
        else:
            h = mg.layers.fc(x, 6)
        h = mg.layers.batch_norm(
            h,
            act="relu",
            data_layout=layout if linear == "conv" else "NCHW",
            is_test=mode_attrs.get("is_test", False),
            use_global_stats=mode_attrs.get("use_global_stats", False),
        )
        if mode_attrs.get("trainable_statistics"):
            bn = [op for op in main.global_block().ops if op.type == "batch_norm"][-1]
            bn._set_attr("trainable_statistics", True)
        if linear == "conv":
            h = mg.layers.pool2d(h, 2, pool_stride=2, data_format=layout)
        logits = mg.layers.fc(h, 5)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        test = main.clone(for_test=True)
        if train:
            mg.optimizer.Momentum(0.1, 0.9).minimize(loss)
    rng = np.random.default_rng(seed)
    x_shape = (4, *shape[1:]) if linear == "conv" else (4, 7)
    feed = {"x": rng.normal(size=x_shape).astype("float32"), "label": rng.integers(0, 5, (4, 1))}
    return main, startup, test, logits, loss, feed


def run_steps(program, startup, fetch, feed, strategy, steps=3):
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    outs = [exe.run(program, feed=feed, fetch_list=fetch, scope=scope, build_strategy=strategy) for _ in range(steps)]
    params = {p.name: np.array(scope.find_var(p.name).get_tensor()) for p in program.all_parameters()}
    return outs, params


def assert_close(a, b):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


CONFIGS = [(m, layout, "conv") for m in MODES for layout in ("NCHW", "NHWC")] + [(m, "NCHW", "fc") for m in MODES]


@pytest.mark.parametrize("which", list(SINGLE))
@pytest.mark.parametrize("mode,layout,linear", CONFIGS)
def test_training_and_test_programs_agree_with_passes_on_and_off(mode, layout, linear, which):
    main, startup, test, logits, loss, feed = cnn(MODES[mode], layout, linear)
    grads = [f"{p.name}@GRAD" for p in main.all_parameters() if p.trainable]
    for program, fetch in ((main, [loss.name, *grads]), (test, [logits.name])):
        want, want_params = run_steps(program, startup, fetch, feed, OFF)
        got, got_params = run_steps(program, startup, fetch, feed, SINGLE[which])
        for w, g in zip(want, got):
            for a, b in zip(w, g):
                assert_close(b, a)
        for name, value in want_params.items():
            assert_close(got_params[name], value)
        compiled = mg.CompiledProgram(program, SINGLE[which]).optimized(list(feed), fetch)
        compiled.verify(feed_names=list(feed))


@pytest.mark.parametrize("mode,layout,linear", CONFIGS)
def test_each_pass_leaves_verify_true(mode, layout, linear):
    main, _, test, logits, loss, feed = cnn(MODES[mode], layout, linear)
    for program, fetch in ((main, [loss.name]), (test, [logits.name])):
        new = program.clone()
        rewrites = (fold_batch_norm_ops, fuse_bn_act, fuse_bias_bn_act, fuse_conv_epilogue, fuse_elewise_add_act)
        for rewrite in (*rewrites, prune_dead_outputs):
            rewrite(new, [*feed, *fetch])
            new.verify(feed_names=list(feed))


def test_test_program_folds_and_training_program_fuses():
    main, _, test, logits, loss, feed = cnn({})
    infer = mg.CompiledProgram(test).optimized(["x"], [logits])
    types = [op.type for op in infer.global_block().ops]
    assert "batch_norm" not in types and "fused_batch_norm_act" not in types
    assert "softmax_with_cross_entropy" not in types  # nothing fetched reads the loss
    conv = next(op for op in infer.global_block().ops if op.type == "fused_conv2d_add_act")
    assert conv.input("Filter")[0].endswith(".fold_w")
    train = str(mg.CompiledProgram(main).optimized(list(feed), [loss]))
    assert "fused_batch_norm_act(" in train and "fused_batch_norm_act_grad(" in train
    assert " relu(" not in train and "relu_grad(" not in train
    unfused = mg.CompiledProgram(main, OFF).optimized(list(feed), [loss])
    assert unfused is main


def residual(train=True, seed=4):
    """fc(relu) -> fc -> + skip -> relu -> [N, C, 2, 2] + per-channel bias (axis 1) -> relu -> fc -> loss:
    elementwise_add + relu with same shapes, a broadcast Y and an axis-1 Y."""
    main, startup = mg.Program(), mg.Program()
    main.random_seed = startup.random_seed = seed
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 8])
        label = mg.data("label", [None, 1], dtype="int64")
        h = mg.layers.fc(x, 8, act="relu")
        h = mg.layers.relu(mg.layers.elementwise_add(mg.layers.fc(h, 8), h))
        c = mg.layers.create_parameter([2], "float32", name="chan_bias")
        h = mg.layers.relu(mg.layers.elementwise_add(mg.layers.reshape(h, [-1, 2, 2, 2]), c, axis=1))
        logits = mg.layers.fc(mg.layers.flatten(h, 1), 5)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        test = main.clone(for_test=True)
        if train:
            mg.optimizer.Momentum(0.1, 0.9).minimize(loss)
    rng = np.random.default_rng(seed)
    feed = {"x": rng.normal(size=(4, 8)).astype("float32"), "label": rng.integers(0, 5, (4, 1))}
    return main, startup, test, logits, loss, feed


@pytest.mark.parametrize("kernels", ["numpy", pytest.param("numba", marks=NO_NUMBA)])
def test_fc_bias_goes_into_the_training_batch_norm_to_the_last_bit(kernels):
    main, startup, test, logits, loss, feed = cnn({}, linear="fc")
    grads = [f"{p.name}@GRAD" for p in main.all_parameters() if p.trainable]
    fetch = [loss.name, *grads]
    text = str(mg.CompiledProgram(main, SINGLE["fuse_bias"]).optimized(list(feed), fetch))
    assert "fused_bias_batch_norm_act(" in text and "fused_bias_batch_norm_act_grad(" in text
    assert text.count("elementwise_add(") == 1 and text.count("elementwise_add_grad(") == 1  # the last fc's
    # fc biases start at 0, where adding them changes nothing: start them elsewhere
    biases = [p.name for p in main.all_parameters() if len(p.shape) == 1 and p.name.startswith("fc")]
    assert len(biases) == 2
    startup = startup.clone()
    with mg.program_guard(startup):
        for k, name in enumerate(biases):
            value = np.random.default_rng(k).normal(size=startup.global_block().var(name).shape)
            mg.layers.assign(value.astype("float32"), startup.global_block().var(name))
    with backend.forced(kernels):
        want, want_params = run_steps(main, startup, fetch, feed, SINGLE["fuse"])
        got, got_params = run_steps(main, startup, fetch, feed, SINGLE["fuse_bias"])
    assert all(np.abs(want_params[name]).min() > 1e-3 for name in biases)
    for w, g in zip(want, got):
        for a, b in zip(w, g):
            np.testing.assert_array_equal(b, a)
    for name, value in want_params.items():
        np.testing.assert_array_equal(got_params[name], value)
    infer = str(mg.CompiledProgram(test).optimized(["x"], [logits]))  # running statistics: left alone
    assert "fused_bias_batch_norm_act" not in infer


def test_fc_bias_stays_when_the_sum_is_fetched():
    main, _, _, _, loss, feed = cnn({}, linear="fc")
    (total,) = next(op for op in main.global_block().ops if op.type == "elementwise_add").output("Out")
    text = str(mg.CompiledProgram(main, SINGLE["fuse_bias"]).optimized(list(feed), [loss.name, total]))
    assert "fused_bias_batch_norm_act" not in text and "fused_batch_norm_act(" in text


@pytest.mark.parametrize("which", ["fuse_add", "all"])
def test_elementwise_add_relu_fuses_with_its_gradient_and_agrees_on_and_off(which):
    main, startup, test, logits, loss, feed = residual()
    grads = [f"{p.name}@GRAD" for p in main.all_parameters() if p.trainable]
    for program, fetch in ((main, [loss.name, *grads]), (test, [logits.name])):
        want, want_params = run_steps(program, startup, fetch, feed, OFF)
        got, got_params = run_steps(program, startup, fetch, feed, SINGLE[which])
        for w, g in zip(want, got):
            for a, b in zip(w, g):
                np.testing.assert_array_equal(b, a)  # the fused kernels do the same arithmetic
        for name, value in want_params.items():
            np.testing.assert_array_equal(got_params[name], value)
        compiled = mg.CompiledProgram(program, SINGLE[which]).optimized(list(feed), fetch)
        compiled.verify(feed_names=list(feed))
        types = [op.type for op in compiled.global_block().ops]
        assert types.count("fused_elemwise_add_activation") == 3 and "relu" not in types
        if program is main:
            assert types.count("fused_elemwise_add_activation_grad") == 3 and "relu_grad" not in types


def test_elementwise_add_relu_is_not_fused_when_the_sum_is_seen():
    main, startup, test, logits, loss, feed = residual()
    add = next(op for op in test.global_block().ops if op.type == "elementwise_add" and op.attrs["axis"] == 1)
    (total,) = add.output("Out")
    infer = mg.CompiledProgram(test, SINGLE["fuse_add"]).optimized(list(feed), [logits.name, total])
    assert [op.type for op in infer.global_block().ops].count("fused_elemwise_add_activation") == 2
    new = main.clone()
    fuse_elewise_add_act(new, [*feed, loss.name, total])
    new.verify(feed_names=list(feed))
    types = [op.type for op in new.global_block().ops]
    assert types.count("fused_elemwise_add_activation") == 2 and types.count("relu_grad") == 1


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_conv_epilogue_fuses_folded_test_programs_exactly_and_leaves_training_alone(layout):
    main, startup, test, logits, loss, feed = cnn({}, layout)
    fold = mg.BuildStrategy(fuse_conv_epilogue=False)
    want, _ = run_steps(test, startup, [logits.name], feed, fold)
    got, _ = run_steps(test, startup, [logits.name], feed, mg.BuildStrategy())
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g[0], w[0])  # the epilogue does the unfused arithmetic
    infer = mg.CompiledProgram(test).optimized(["x"], [logits.name])
    infer.verify(feed_names=["x"])
    types = [op.type for op in infer.global_block().ops]
    assert "fused_conv2d_add_act" in types and not {"conv2d", "relu", "pool2d"} & set(types)
    train = mg.CompiledProgram(main).optimized(list(feed), [loss.name])
    assert "fused_conv2d_add_act" not in [op.type for op in train.global_block().ops]


def test_conv_epilogue_keeps_a_fetched_intermediate_and_stops_before_it():
    main, startup, test, logits, loss, feed = cnn({})
    relu_out = next(op for op in test.global_block().ops if op.type == "relu").output("Out")[0]
    new = test.clone()
    fold_batch_norm_ops(new, ["x", logits.name, relu_out])
    fuse_conv_epilogue(new, ["x", logits.name, relu_out])
    new.verify(feed_names=["x"])
    (fused,) = [op for op in new.global_block().ops if op.type == "fused_conv2d_add_act"]
    assert fused.attrs["pool_2x2"] is False and "pool2d" in [op.type for op in new.global_block().ops]
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    got = exe.run(new, feed=feed, fetch_list=[logits.name, relu_out], scope=scope, build_strategy=OFF)
    want = exe.run(test, feed=feed, fetch_list=[logits.name, relu_out], scope=scope, build_strategy=OFF)
    for a, b in zip(got, want):
        assert_close(a, b)


def test_folding_follows_parameters_changed_between_runs_without_recompiling():
    main, startup, test, logits, loss, feed = cnn({})
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    (before,) = exe.run(test, feed=feed, fetch_list=[logits], scope=scope)
    plans = len(exe._cached_plans())
    for name in ("batch_norm_0.w_1", "batch_norm_0.w_2", "batch_norm_0.w_0"):
        t = scope.find_var(name).get_tensor()
        scope.var(name).set(np.asarray(t) * 1.5 + 0.25)
    (after,) = exe.run(test, feed=feed, fetch_list=[logits], scope=scope)
    (want,) = exe.run(test, feed=feed, fetch_list=[logits], scope=scope, build_strategy=OFF)
    assert len(exe._cached_plans()) == plans + 1  # only the OFF run compiled
    assert not np.allclose(before, after)
    assert_close(after, want)


def test_fetching_an_intermediate_keeps_it():
    main, startup, test, logits, loss, feed = cnn({})
    bn = next(op for op in test.global_block().ops if op.type == "batch_norm")
    (y,) = bn.output("Y")
    infer = mg.CompiledProgram(test).optimized(["x"], [logits.name, y, bn.input("X")[0]])
    assert [op.type for op in infer.global_block().ops].count("batch_norm") == 1
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    got = exe.run(test, feed=feed, fetch_list=[logits, y], scope=scope)
    want = exe.run(test, feed=feed, fetch_list=[logits, y], scope=scope, build_strategy=OFF)
    for a, b in zip(got, want):
        assert_close(a, b)  # Y is still folded: fetching it does not stop that


def test_dead_outputs_are_unwired_in_a_test_program():
    main, _, test, logits, loss, feed = cnn({})
    s = mg.BuildStrategy(fold_batch_norm=False)
    infer = mg.CompiledProgram(test, s).optimized(["x"], [logits])
    (bn,) = [op for op in infer.global_block().ops if op.type == "fused_batch_norm_act"]
    assert not bn.output("SavedMean") and not bn.output("SavedVariance")


def test_plan_cache_keys_on_the_strategy_and_its_switches():
    main, startup, test, logits, loss, feed = cnn({})
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    strategy = mg.BuildStrategy()
    exe.run(test, feed={"x": feed["x"]}, fetch_list=[logits], scope=scope, build_strategy=strategy)
    n = len(exe._cached_plans())
    exe.run(test, feed={"x": feed["x"]}, fetch_list=[logits], scope=scope, build_strategy=mg.BuildStrategy())
    assert len(exe._cached_plans()) == n
    strategy.fold_batch_norm = False
    exe.run(mg.CompiledProgram(test, strategy), feed={"x": feed["x"]}, fetch_list=[logits], scope=scope)
    assert len(exe._cached_plans()) == n + 1
    plan = exe._cached_plans()[-1]
    assert plan.program is test and any(op.type == "fused_batch_norm_act" for op in plan.compiled.global_block().ops)


def test_dropout_masks_are_the_same_with_ops_removed_before_it():
    main, startup = mg.Program(), mg.Program()
    main.random_seed = 5
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 8])
        unused = mg.layers.scale(x, 2.0)  # dropped by the dead-output pass
        y = mg.layers.dropout(mg.layers.relu(x), 0.5)
    exe = mg.Executor()
    feed = {"x": np.ones((4, 8), "float32")}
    (a,) = exe.run(main, feed=feed, fetch_list=[y])
    (b,) = exe.run(main, feed=feed, fetch_list=[y], build_strategy=OFF)
    np.testing.assert_array_equal(a, b)
    assert unused.name not in mg.CompiledProgram(main).optimized(["x"], [y]).global_block().vars


def test_bad_strategy_arguments_are_rejected():
    with pytest.raises(mg.MinigraphError, match="BuildStrategy"):
        mg.Executor().run(mg.Program(), build_strategy={"fold_batch_norm": False})
    with pytest.raises(mg.MinigraphError, match="Program"):
        mg.CompiledProgram("main")


SAMPLE = all_cases()[::7]


@pytest.mark.parametrize("case", SAMPLE, ids=[c.id for c in SAMPLE])
def test_op_table_rows_agree_with_passes_on_and_off(case):
    on, off = run_op(case), run_op(case, build_strategy=OFF)
    assert on.keys() == off.keys()
    for slot, value in on.items():
        for a, b in zip(
            value if isinstance(value, list) else [value], off[slot] if isinstance(value, list) else [off[slot]]
        ):
            np.testing.assert_array_equal(a, b)


def test_fused_bias_batch_norm_act_wired_by_hand_checks_its_bias():
    main, startup = mg.Program(), mg.Program()
    block = main.global_block()
    with mg.program_guard(main, startup):
        x = mg.data("x", [4, 3])
        stats = {s: block.create_var(s.lower(), [3], persistable=True) for s in ("Scale", "Bias", "Mean", "Variance")}
        outs = {"Y": "y", "MeanOut": "mean", "VarianceOut": "variance", "SavedMean": "sm", "SavedVariance": "sv"}
        wrong = block.create_var("fc_b", [4], persistable=True)
        with pytest.raises(mg.GraphBuildError, match=r"XBias 'fc_b' of shape \[4\]"):
            block.append_op("fused_bias_batch_norm_act", {"X": x, "XBias": wrong, **stats}, outs, {})
