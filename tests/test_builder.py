"""One builder interface for static and eager mode: what it guarantees."""

from __future__ import annotations

import numpy as np
import pytest

import minigraph as mg
from minigraph import backward as backward_module
from minigraph import jit
from minigraph.ir.builder import StaticBuilder, builder_for
from minigraph.ir.framework import current_builder

RNG = np.random.default_rng(7)


def _linear_reference(x, w, b):
    return x @ w + b


def test_jit_trace_a_layer_built_in_static_mode():
    main, startup = mg.Program(), mg.Program()
    scope = mg.Scope()
    with mg.program_guard(main, startup):
        lin = mg.nn.Linear(3, 2, param_attr=mg.ParamAttr(regularizer=mg.regularizer.L2Decay(0.5), need_clip=False))
    exe = mg.Executor()
    exe.run(startup, scope=scope)
    x = RNG.standard_normal((4, 3)).astype("float32")
    traced = jit.trace(lin, [x], scope=scope)
    (out,) = exe.run(traced.program, feed={"x": x}, fetch_list=traced.fetch_names, scope=traced.scope)
    w = np.array(scope.find_var(lin.weight.name).get_tensor())
    b = np.array(scope.find_var(lin.bias.name).get_tensor())
    np.testing.assert_allclose(out, _linear_reference(x, w, b), rtol=1e-6)
    # Every parameter flag travels into the traced program (regularizer and need_clip too).
    p = traced.program.global_block().var(lin.weight.name)
    assert p.regularizer == mg.regularizer.L2Decay(0.5) and p.need_clip is False
    traced.program.global_block().var(traced.feed_names[0])  # the feed exists


def test_jit_trace_a_static_layer_reads_the_global_scope_by_default():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        lin = mg.nn.Linear(2, 2)
    exe = mg.Executor()
    with mg.scope_guard(mg.Scope()):
        exe.run(startup)
        traced = jit.trace(lin, [np.ones((1, 2), "float32")])
        w = np.array(mg.global_scope().find_var(lin.weight.name).get_tensor())
    np.testing.assert_array_equal(traced.scope.find_var(lin.weight.name).get_tensor(), w)


def test_jit_trace_a_static_layer_before_its_startup_names_the_parameter():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        lin = mg.nn.Linear(2, 2)
    with pytest.raises(mg.GraphBuildError, match=lin.weight.name):
        jit.trace(lin, [np.ones((1, 2), "float32")], scope=mg.Scope())


def test_jit_trace_an_eager_layer_matches_its_eager_output():
    with mg.dygraph.guard(seed=3):
        lin = mg.nn.Linear(3, 2)
        x = RNG.standard_normal((5, 3)).astype("float32")
        eager = lin(mg.dygraph.to_variable(x)).numpy()
        traced = jit.trace(lin, [x])
    (out,) = mg.Executor().run(traced.program, feed={"x": x}, fetch_list=traced.fetch_names, scope=traced.scope)
    np.testing.assert_allclose(out, eager, rtol=1e-6)


def test_eager_backward_runs_the_static_backward_transformation(monkeypatch):
    """Eager gradients come from the same `_Backward` walk as append_backward's."""
    calls = []
    real_run = backward_module._Backward.run

    def spy(self, seeds):
        calls.append([op.type for op in self.block.ops])
        return real_run(self, seeds)

    monkeypatch.setattr(backward_module._Backward, "run", spy)
    with mg.dygraph.guard():
        x = mg.dygraph.to_variable(np.array([[1.0, 2.0]], "float32"))
        x.stop_gradient = False
        y = mg.layers.mean(mg.layers.relu(x * 3.0))
        y.backward()
        grad = x.gradient()
    assert calls == [["scale", "relu", "mean"]]
    np.testing.assert_allclose(grad, [[1.5, 1.5]])


def test_in_place_eager_op_gets_exact_gradients():
    """An eager op overwriting its input is laid out with one name per version."""
    x0 = RNG.standard_normal((4, 3)).astype("float64")
    with mg.dygraph.guard():
        x = mg.dygraph.to_variable(x0)
        x.stop_gradient = False
        h = x * 1.0
        y = mg.layers.batch_norm(h, in_place=True)
        mg.layers.mean(y * y).backward()
        eager = x.gradient()
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        xs = mg.data("x", [4, 3], "float64")
        xs.stop_gradient = False
        hs = xs * 1.0
        ys = mg.layers.batch_norm(hs, in_place=True)
        loss = mg.layers.mean(ys * ys)
        (gx,) = mg.gradients(loss, [xs])
    exe = mg.Executor()
    scope = mg.Scope()
    exe.run(startup, scope=scope)
    (static,) = exe.run(main, feed={"x": x0}, fetch_list=[gx], scope=scope)
    np.testing.assert_allclose(eager, static, rtol=1e-12, atol=1e-14)


def test_static_arithmetic_takes_numpy_arrays_like_eager():
    c = np.array([1.0, 2.0, 3.0], "float32")
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3])
        y = x * c + 1.0
        z = c - x  # an ndarray on the left defers to the variable
    assert {"assign_value", "elementwise_mul", "elementwise_sub"} <= {op.type for op in main.global_block().ops}
    xv = np.ones((2, 3), "float32")
    yv, zv = mg.Executor().run(main, feed={"x": xv}, fetch_list=[y, z], scope=mg.Scope())
    np.testing.assert_allclose(yv, xv * c + 1.0)
    np.testing.assert_allclose(zv, c - xv)
    with mg.dygraph.guard():
        xe = mg.dygraph.to_variable(xv)
        np.testing.assert_allclose((xe * c + 1.0).numpy(), yv)
        np.testing.assert_allclose((c - xe).numpy(), zv)


def test_eager_variables_carry_their_real_shape_and_dtype():
    with mg.dygraph.guard():
        x = mg.dygraph.to_variable(np.ones((2, 5), "float64"))
        y = mg.layers.reduce_sum(x, dim=1)
        assert isinstance(y, mg.Variable)
        assert y.shape == (2,) and y.dtype == "float64"
        assert x.astype("float32").dtype == "float32"


def test_eager_shape_errors_are_prefixed_like_static_ones():
    messages = []
    for eager in (False, True):
        main, startup = mg.Program(), mg.Program()
        with mg.program_guard(main, startup):
            if eager:
                with mg.dygraph.guard():
                    a = mg.dygraph.to_variable(np.ones((2, 3), "float32"))
                    b = mg.dygraph.to_variable(np.ones((4, 5), "float32"))
                    with pytest.raises(mg.GraphBuildError) as info:
                        mg.layers.matmul(a, b)
            else:
                a, b = mg.data("a", [2, 3]), mg.data("b", [4, 5])
                with pytest.raises(mg.GraphBuildError) as info:
                    mg.layers.matmul(a, b)
        messages.append(str(info.value))
    static, eager = messages
    assert static.startswith("op matmul(X=a:float32[2, 3]; Y=b:float32[4, 5]): inner dimensions differ")
    # The same message, naming the eager variables instead.
    assert eager.replace("generated_var_0", "a").replace("generated_var_1", "b") == static


def test_one_parameter_type_in_both_modes():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        static = mg.nn.Linear(2, 2).weight
    with mg.dygraph.guard():
        eager = mg.nn.Linear(2, 2).weight
    assert type(static) is type(eager) is mg.Parameter
    assert eager.numpy().shape == (2, 2)
    with pytest.raises(mg.GraphBuildError, match="fetch it"):
        static.numpy()
    with pytest.raises(mg.GraphBuildError, match="append_backward"):
        static.backward()


def test_current_builder_follows_the_mode():
    assert not current_builder().immediate and not mg.dygraph.enabled()
    with mg.dygraph.guard():
        assert current_builder().immediate and mg.dygraph.enabled()
        x = mg.dygraph.to_variable(np.ones(2, "float32"))
        assert builder_for(x) is current_builder()
    main = mg.Program()
    with mg.program_guard(main):
        v = mg.data("v", [2])
    assert isinstance(builder_for(v), StaticBuilder) and builder_for(v).program is main


def test_repeated_eager_steps_reuse_one_gradient_program(monkeypatch):
    """The gradient program is built once per tape structure; values are re-bound each step."""
    from minigraph.dygraph import backward as eager_backward

    built = []
    real = eager_backward._grad_program
    monkeypatch.setattr(eager_backward, "_grad_program", lambda layout: built.append(1) or real(layout))
    grads = []
    with mg.dygraph.guard(seed=5):
        lin = mg.nn.Linear(3, 1)
        for batch in (2, 2, 2, 4, 2):
            x = mg.dygraph.to_variable(np.arange(batch * 3, dtype="float32").reshape(batch, 3))
            mg.layers.mean(lin(x)).backward()
            grads.append(lin.weight.gradient())
            lin.clear_gradients()
    assert len(built) == 2  # one for batch 2, one for batch 4
    np.testing.assert_allclose(grads[0], [[1.5], [2.5], [3.5]])  # mean of the rows of x
    np.testing.assert_allclose(grads[3], [[4.5], [5.5], [6.5]])
    np.testing.assert_array_equal(grads[4], grads[0])
