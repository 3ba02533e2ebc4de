"""Folding test-mode batch_norm into the conv/fc before it (minigraph.passes.fold) and its use
by save_inference_model: same outputs to 1e-5, the batch_norm op gone, and nothing folded
when the rules say no."""

from __future__ import annotations

import numpy as np
import pytest

import minigraph as mg
from minigraph.passes.fold import fold_batch_norm
from tests.test_io import archive_of

RNG = np.random.default_rng(21)


def _build(kind: str, dtype: str = "float32", layout: str = "NCHW", bias: bool = True, act: str | None = "relu"):
    """A test program x -> linear op (+ bias) -> batch_norm(running stats) (-> act) -> out."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        if kind == "conv":
            shape = [None, 3, 6, 6] if layout == "NCHW" else [None, 6, 6, 3]
            x = mg.data("x", shape, dtype)
            h = mg.layers.conv2d(x, 4, 3, padding=1, bias_attr=None if bias else False, data_format=layout)
        elif kind == "fc":
            x = mg.data("x", [None, 5], dtype)
            h = mg.layers.fc(x, 4, bias_attr=None if bias else False)
        else:  # Linear: matmul (+ add)
            x = mg.data("x", [None, 5], dtype)
            h = mg.nn.Linear(5, 4, bias_attr=None if bias else False, dtype=dtype)(x)
        out = mg.layers.batch_norm(h, act=act, data_layout=layout, epsilon=1e-3)
    scope = mg.Scope()
    mg.Executor().run(startup, scope=scope)
    for p in main.all_parameters():  # random weights and non-trivial statistics
        var = scope.find_var(p.name)
        shape = var.get_tensor().shape
        value = RNG.uniform(0.5, 1.5, shape) if p.name.endswith(".w_2") else RNG.normal(size=shape)
        var.set(value.astype(dtype))
    x_shape = [8] + [d for d in x.shape[1:]]
    feed = {"x": RNG.normal(size=x_shape).astype(dtype)}
    return main.clone(for_test=True), scope, out, feed


def _ops(program):
    return [op.type for op in program.global_block().ops]


CASES = [
    ("conv", "float32", "NCHW", True),
    ("conv", "float64", "NCHW", True),
    ("conv", "float32", "NHWC", True),
    ("conv", "float64", "NHWC", False),
    ("conv", "float32", "NCHW", False),
    ("fc", "float32", "NCHW", True),
    ("fc", "float64", "NCHW", False),
    ("linear", "float32", "NCHW", True),
    ("linear", "float64", "NCHW", False),
]


@pytest.mark.parametrize("kind,dtype,layout,bias", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_folded_program_computes_the_same_outputs(kind, dtype, layout, bias):
    test, scope, out, feed = _build(kind, dtype, layout, bias)
    exe = mg.Executor()
    (want,) = exe.run(test, feed=feed, fetch_list=[out], scope=scope)
    before = {n: np.array(scope.find_var(n).get_tensor()) for n in scope.local_var_names()}
    folded = fold_batch_norm(test, scope, keep=[out.name])
    assert "batch_norm" in _ops(test)  # the input program is untouched
    assert "batch_norm" not in _ops(folded)
    (got,) = exe.run(folded, feed=feed, fetch_list=[out], scope=scope)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert got.dtype == want.dtype
    for name, value in before.items():  # existing scope values are not modified
        assert np.array_equal(np.asarray(scope.find_var(name).get_tensor()), value)
    new = [v for v in folded.global_block().vars.values() if v.persistable and ".fold_" in v.name]
    assert len(new) == 2 and all(scope.find_var(v.name).is_initialized() for v in new)
    # the statistics and the unfolded weights left the program
    gone = [n for n in folded.global_block().vars if n.startswith(("batch_norm_0.w_", "batch_norm_0.b_"))]
    assert not gone


def test_batch_statistics_mode_is_not_folded():
    test, scope, out, feed = _build("conv")
    train = test.clone()
    for op in train.global_block().ops:
        if op.type == "batch_norm":
            op._set_attr("is_test", False)
    assert "batch_norm" in _ops(fold_batch_norm(train, scope))


def test_a_linear_output_with_another_reader_or_kept_is_not_folded():
    test, scope, out, feed = _build("conv", bias=False, act=None)
    conv_out = next(op for op in test.global_block().ops if op.type == "conv2d").output("Output")[0]
    assert "batch_norm" in _ops(fold_batch_norm(test, scope, keep=[conv_out]))
    block = test.global_block()
    block.create_var("other", block.var(conv_out).shape, "float32")
    block.append_op("scale", {"X": conv_out}, {"Out": "other"}, {"scale": 2.0})
    assert "batch_norm" in _ops(fold_batch_norm(test, scope))


def test_batch_norm_after_an_activation_is_not_folded():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 5])
        h = mg.layers.fc(x, 4, act="relu")
        out = mg.layers.batch_norm(h, is_test=True)
    scope = mg.Scope()
    mg.Executor().run(startup, scope=scope)
    assert "batch_norm" in _ops(fold_batch_norm(main, scope, keep=[out.name]))


def test_save_inference_model_folds_by_default_and_can_be_told_not_to(tmp_path):
    test, scope, out, feed = _build("conv", act="relu")
    exe = mg.Executor()
    (want,) = exe.run(test, feed=feed, fetch_list=[out], scope=scope)
    names_before = sorted(scope.local_var_names())
    mg.io.save_inference_model(tmp_path / "folded", ["x"], [out.name], exe, main_program=test, scope=scope)
    mg.io.save_inference_model(
        tmp_path / "plain", ["x"], [out.name], exe, main_program=test, scope=scope, fold_batch_norm=False
    )
    assert sorted(scope.local_var_names()) == names_before  # the caller's scope gained nothing
    results = {}
    for name in ("folded", "plain"):
        s = mg.Scope()
        program, feeds, fetches = mg.io.load_inference_model(tmp_path / name, exe, scope=s)
        results[name] = (program, exe.run(program, feed={feeds[0]: feed["x"]}, fetch_list=fetches, scope=s)[0])
        with np.load(archive_of(tmp_path / name, "model.json")) as z:  # only what the program reads is saved
            assert set(z.files) == {v.name for v in program.global_block().vars.values() if v.persistable}
    assert "batch_norm" not in _ops(results["folded"][0])
    assert "batch_norm" in _ops(results["plain"][0])
    np.testing.assert_allclose(results["folded"][1], want, rtol=1e-5, atol=1e-5)
    assert np.array_equal(results["plain"][1], want)
