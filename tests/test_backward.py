"""append_backward and gradients: Paddle's names and the numbers of paddle_behaviour.md §3."""

import numpy as np
import pytest

import minigraph as mg
from minigraph.initializer import Constant

X = np.array([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]], "float32")


def fan_out_program():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [2, 3])
        x.stop_gradient = False
        w = mg.create_parameter([3], "float32", name="w", default_initializer=Constant(2.0))
        y = mg.layers.elementwise_add(mg.layers.elementwise_mul(x, w), mg.layers.square(x))
        loss = mg.layers.mean(mg.layers.elementwise_add(y, mg.layers.relu(x)))
        pairs = mg.append_backward(loss)
    return main, startup, loss, pairs


def test_fan_out_names_sum_and_values():
    main, startup, loss, pairs = fan_out_program()
    ops = main.global_block().ops
    producers = {n: op.type for op in ops for n in op.output_arg_names if n.startswith("x@GRAD")}
    assert producers == {
        "x@GRAD@RENAME@block0@0": "relu_grad",
        "x@GRAD@RENAME@block0@1": "square_grad",
        "x@GRAD@RENAME@block0@2": "elementwise_mul_grad",
        "x@GRAD": "sum",
    }
    sum_op = next(op for op in ops if op.type == "sum")
    assert sum_op.input("X") == [f"x@GRAD@RENAME@block0@{i}" for i in range(3)]
    assert [(p.name, g.name) for p, g in pairs] == [("w", "w@GRAD")]
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    gx, gw = exe.run(main, feed={"x": X}, fetch_list=["x@GRAD", "w@GRAD"], scope=scope)
    np.testing.assert_allclose(gx, [[0.5333333, 0.2666667, 0.6], [0.6333333, 0.6666667, 0.1333333]], rtol=1e-6)
    np.testing.assert_allclose(gw, [0.0833333, 0.05, -0.05], rtol=1e-5)


def test_loss_seed_is_fill_constant_of_one_with_shape_of_0d_loss():
    main, _, loss, _ = fan_out_program()
    seed = next(op for op in main.global_block().ops if op.output_arg_names == [f"{loss.name}@GRAD"])
    assert seed.type == "fill_constant"
    assert seed.attr("shape") == [] and seed.attr("value") == 1.0 and seed.attr("dtype") == "float32"
    assert seed.role == mg.OpRole.BACKWARD | mg.OpRole.LOSS
    loss_op = next(op for op in main.global_block().ops if loss.name in op.output_arg_names)
    assert loss_op.role & mg.OpRole.LOSS


def test_same_variable_on_both_inputs():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [2, 3])
        x.stop_gradient = False
        loss = mg.layers.mean(mg.layers.elementwise_mul(x, x))
        mg.append_backward(loss)
    grad_op = next(op for op in main.global_block().ops if op.type == "elementwise_mul_grad")
    assert grad_op.output("X@GRAD") == ["x@GRAD@RENAME@block0@0"]
    assert grad_op.output("Y@GRAD") == ["x@GRAD@RENAME@block0@1"]
    (g,) = mg.Executor().run(main, feed={"x": X}, fetch_list=["x@GRAD"], scope=mg.Scope())
    np.testing.assert_allclose(g, 2 * X / 6, rtol=1e-6)


def two_param_program(**backward_kwargs):
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [2, 3])
        w1 = mg.create_parameter([3], "float32", name="w1", default_initializer=Constant(2.0))
        w2 = mg.create_parameter([3], "float32", name="w2", default_initializer=Constant(3.0))
        h = mg.layers.elementwise_mul(x, w1)
        loss = mg.layers.mean(mg.layers.elementwise_mul(mg.layers.square(h), w2))
        pairs = mg.append_backward(loss, **backward_kwargs)
    return main, startup, h, pairs


def test_parameter_list_filters_only_the_returned_pairs():
    main, _, _, pairs = two_param_program(parameter_list=["w2"])
    assert [p.name for p, _ in pairs] == ["w2"]
    assert main.global_block().has_var("w1@GRAD")


def test_no_grad_set_drops_the_gradient_output():
    main, _, _, pairs = two_param_program(no_grad_set={"w2"})
    assert [p.name for p, _ in pairs] == ["w1"]
    grad_op = [op for op in main.global_block().ops if op.type == "elementwise_mul_grad"][0]
    assert grad_op.output("Y@GRAD") == [] and not main.global_block().has_var("w2@GRAD")
    main2, _, _, pairs2 = two_param_program(no_grad_set=[main.global_block().var("w2")])
    assert [p.name for p, _ in pairs2] == ["w1"]


def test_stop_gradient_on_intermediate_prunes_upstream():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [2, 3])
        w1 = mg.create_parameter([3], "float32", name="w1", default_initializer=Constant(2.0))
        w2 = mg.create_parameter([3], "float32", name="w2", default_initializer=Constant(3.0))
        h = mg.layers.elementwise_mul(x, w1)
        h.stop_gradient = True
        loss = mg.layers.mean(mg.layers.elementwise_mul(mg.layers.square(h), w2))
        pairs = mg.append_backward(loss)
    types = [op.type for op in main.global_block().ops]
    assert "square_grad" not in types and types.count("elementwise_mul_grad") == 1
    assert [p.name for p, _ in pairs] == ["w2"]


def test_non_trainable_parameter_gets_no_gradient():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [2, 3])
        h = mg.layers.fc(x, 2, param_attr=mg.ParamAttr(trainable=False))
        pairs = mg.append_backward(mg.layers.mean(h))
    assert [p.name for p, _ in pairs] == ["fc_0.b_0"]
    assert not main.global_block().has_var("fc_0.w_0@GRAD")


def test_pairs_come_in_parameter_creation_order():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [2, 3])
        fw = mg.create_parameter([3, 1], "float32", name="fw")
        fb = mg.create_parameter([1], "float32", name="fb", is_bias=True)
        y = mg.layers.elementwise_add(mg.layers.matmul(x, fw), fb)
        pairs = mg.append_backward(mg.layers.mean(y))
    assert [(p.name, g.name) for p, g in pairs] == [("fw", "fw@GRAD"), ("fb", "fb@GRAD")]


def test_gradients_with_fill_any_like_seed_and_unreachable_none():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [2, 3])
        x.stop_gradient = False
        z = mg.data("z", [2, 3])
        z.stop_gradient = False
        y = mg.layers.scale(x, 3.0)
        gx, gz = mg.gradients([y], [x, z])
    assert gz is None
    seed = next(op for op in main.global_block().ops if op.type == "fill_any_like")
    assert seed.attr("value") == 1.0
    (g,) = mg.Executor().run(main, feed={"x": X, "z": X}, fetch_list=[gx], scope=mg.Scope())
    np.testing.assert_allclose(g, np.full((2, 3), 3.0))


def _fc_softmax_program(dtype="float64"):
    """x -> fc(w, b) -> softmax_with_cross_entropy -> mean (the weights are set in the scope)."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3], dtype)
        x.stop_gradient = False
        label = mg.data("label", [None, 1], "int64")
        logits = mg.layers.fc(x, size=4)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
    return main, startup, x, loss


def _fc_softmax_feed_and_scope(startup, dtype="float64"):
    rng = np.random.default_rng(4)
    scope = mg.Scope()
    mg.Executor().run(startup, scope=scope)
    scope.find_var("fc_0.w_0").set(rng.normal(size=(3, 4)).astype(dtype))
    scope.find_var("fc_0.b_0").set(rng.normal(size=(4,)).astype(dtype))
    feed = {"x": rng.normal(size=(5, 3)).astype(dtype), "label": rng.integers(0, 4, (5, 1))}
    return feed, scope


def test_gradients_builds_only_what_the_requested_inputs_need():
    main, startup, x, loss = _fc_softmax_program()
    (gx,) = mg.gradients([loss], [x])
    block = main.global_block()
    outputs = {n for op in block.ops for n in op.output_arg_names}
    assert gx.name == "x@GRAD" and "x@GRAD" in outputs
    for weight in ("fc_0.w_0", "fc_0.b_0"):
        assert not any(n.startswith(weight + "@GRAD") for n in outputs)
        assert not any(n.startswith(weight + "@GRAD") for n in block.vars)
    main.verify()
    # the values are unchanged: against central differences of the loss
    feed, scope = _fc_softmax_feed_and_scope(startup)
    exe = mg.Executor()
    (got,) = exe.run(main, feed=feed, fetch_list=[gx], scope=scope)
    want = np.zeros_like(feed["x"])
    eps = 1e-6
    for idx in np.ndindex(*want.shape):
        up, down = dict(feed), dict(feed)
        up["x"], down["x"] = feed["x"].copy(), feed["x"].copy()
        up["x"][idx] += eps
        down["x"][idx] -= eps
        (lu,) = exe.run(main, feed=up, fetch_list=[loss], scope=scope)
        (ld,) = exe.run(main, feed=down, fetch_list=[loss], scope=scope)
        want[idx] = (lu - ld) / (2 * eps)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_gradients_and_append_backward_agree_where_both_compute():
    main, startup, x, loss = _fc_softmax_program()
    (gx,) = mg.gradients([loss], [x])
    full, full_startup, full_x, full_loss = _fc_softmax_program()
    pairs = mg.append_backward(full_loss)
    assert [p.name for p, _ in pairs] == ["fc_0.w_0", "fc_0.b_0"]  # append_backward: every parameter
    feed, scope = _fc_softmax_feed_and_scope(startup)
    (only_x,) = mg.Executor().run(main, feed=feed, fetch_list=[gx], scope=scope)
    (with_all,) = mg.Executor().run(full, feed=feed, fetch_list=["x@GRAD"], scope=scope)
    np.testing.assert_array_equal(only_x, with_all)


def test_gradients_for_a_weight_and_an_intermediate():
    main, startup, x, loss = _fc_softmax_program()
    block = main.global_block()
    logits = next(op for op in block.ops if op.type == "elementwise_add").output("Out")[0]
    gw, gl = mg.gradients([loss], [block.var("fc_0.w_0"), block.var(logits)])
    outputs = {n for op in block.ops for n in op.output_arg_names}
    assert gw.name == "fc_0.w_0@GRAD" and gl.name == f"{logits}@GRAD"
    assert not any(n.startswith(("x@GRAD", "fc_0.b_0@GRAD")) for n in outputs)
    feed, scope = _fc_softmax_feed_and_scope(startup)
    w_grad, l_grad = mg.Executor().run(main, feed=feed, fetch_list=[gw, gl], scope=scope)
    np.testing.assert_allclose(w_grad, feed["x"].T @ l_grad, rtol=1e-12)


def test_gradients_with_target_gradients_uses_them_directly():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [2, 3])
        x.stop_gradient = False
        tg = mg.data("tg", [2, 3])
        y = mg.layers.scale(x, 3.0)
        (gx,) = mg.gradients([y], [x], target_gradients=[tg])
    assert not any(op.type in ("fill_any_like", "fill_constant") for op in main.global_block().ops)
    (g,) = mg.Executor().run(main, feed={"x": X, "tg": X}, fetch_list=[gx], scope=mg.Scope())
    np.testing.assert_allclose(g, 3 * X, rtol=1e-6)


def test_in_place_op_gradient_is_exact_and_saves_the_overwritten_input():
    """An op that overwrites its own input (here `scale` writing back into h) still gets the
    exact gradient: the backward saves the value the grad op needs before it is overwritten."""

    def build(in_place):
        main, startup = mg.Program(), mg.Program()
        with mg.program_guard(main, startup):
            x = mg.data("x", [2, 3])
            x.stop_gradient = False
            h = mg.layers.elementwise_mul(x, x)
            block = main.global_block()
            out = h if in_place else block.create_var("h2", h.shape)
            block.append_op("elementwise_mul", {"X": h, "Y": x}, {"Out": out})
            loss = mg.layers.mean(out)
            mg.append_backward(loss)
        return main

    ref = mg.Executor().run(build(False), feed={"x": X}, fetch_list=["x@GRAD"], scope=mg.Scope())[0]
    prog = build(True)
    assert any(
        op.type == "assign" and op.output("Out") == ["elementwise_mul_0.tmp_0@SAVED@V0"]
        for op in prog.global_block().ops
    )
    got = mg.Executor().run(prog, feed={"x": X}, fetch_list=["x@GRAD"], scope=mg.Scope())[0]
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    np.testing.assert_allclose(got, 3 * X**2 / 6, rtol=1e-6)


def test_append_backward_rejects_non_variables_and_foreign_losses():
    with pytest.raises(TypeError):
        mg.append_backward("loss")
    main = mg.Program()
    v = main.global_block().create_var("lonely", [1])
    with pytest.raises(mg.GraphBuildError, match="lonely"):
        mg.append_backward(v)
