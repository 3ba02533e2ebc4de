"""Every example's model through ONNX: the inference models the examples save
(train_digits, model_average, dygraph_train) exported with export_inference_model, and the
test programs of mlp_digits and batchnorm_modes exported with export. onnxruntime must give
minigraph's outputs within 1e-5 (relative to the largest output) at batch sizes 1 and 7 from
one file, whose batch dimension is symbolic."""

from __future__ import annotations

import numpy as np
import pytest

import minigraph as mg
from minigraph.onnx import export, export_inference_model
from minigraph.passes.prune import prune
from tests.onnx_support import assert_close, require_onnx, session
from tests.test_example_mlp import load_example

onnx, _ = require_onnx()

SAVED = {
    "train_digits": ["--epochs", "1", "--limit", "300", "--quiet"],
    "model_average": ["--epochs", "1", "--limit", "300"],
    "dygraph_train": ["--epochs", "1", "--limit", "200"],
}


def _inputs(program: mg.Program, name: str, batch: int, rng: np.random.Generator) -> np.ndarray:
    shape = [batch if d < 0 else d for d in program.global_block().var(name).shape]
    return rng.uniform(0.0, 1.0, size=shape).astype(np.float32)  # digits-like pixel values


def _compare(path, program, feeds, fetches, scope, batches=(1, 7)):
    program = prune(program, feeds, fetches).program  # minigraph runs what the export holds
    exe, rng = mg.Executor(), np.random.default_rng(0)
    sess = session(path)
    assert [i.name for i in sess.get_inputs()] == feeds
    assert [o.name for o in sess.get_outputs()] == fetches
    assert all(i.shape[0] == "batch" for i in sess.get_inputs())
    worst = 0.0
    for batch in batches:
        feed = {n: _inputs(program, n, batch, rng) for n in feeds}
        want = exe.run(program, feed=feed, fetch_list=fetches, scope=scope)
        got = sess.run(None, feed)
        for name, g, w in zip(fetches, got, want):
            worst = max(worst, assert_close(g, w, f"{name} at batch {batch}"))
    return worst


@pytest.mark.parametrize("example", sorted(SAVED))
def test_saved_inference_model_matches_onnxruntime(example, tmp_path):
    result = load_example(example).main([*SAVED[example], "--out", str(tmp_path / "run")])
    path = export_inference_model(result["model_dir"], tmp_path / "model.onnx")
    scope = mg.Scope()
    program, feeds, fetches = mg.io.load_inference_model(result["model_dir"], mg.Executor(), scope=scope)
    _compare(path, program, feeds, [v.name for v in fetches], scope)
    # the program as loaded exports the same file (its fetch targets are the default fetches)
    again = export(program, tmp_path / "again.onnx", scope=scope)
    assert open(again, "rb").read() == open(path, "rb").read()


def _train(main, startup, feed_fn, loss, steps=5):
    # fixed initial weights: with fresh random ones, batch statistics over 2 samples now and
    # then amplified float32 rounding past the 1e-5 the comparison allows
    main.random_seed = startup.random_seed = 1
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    for step in range(steps):
        exe.run(main, feed=feed_fn(step), fetch_list=[loss], scope=scope)
    return scope


def _digit_batches(width):
    rng = np.random.default_rng(1)
    return lambda step: {
        "x": rng.uniform(0, 1, size=(16, width)).astype(np.float32),
        "label": rng.integers(0, 10, size=(16, 1)),
    }


def test_mlp_digits_test_program_matches_onnxruntime(tmp_path):
    net = load_example("mlp_digits").build(32, 0.1, 1)
    scope = _train(net["main"], net["startup"], _digit_batches(64), net["loss"])
    test = net["test"]
    (logits,) = next(op for op in test.global_block().ops if op.type == "softmax_with_cross_entropy").input("Logits")
    path = export(test, tmp_path / "mlp.onnx", fetch=[logits], scope=scope)
    _compare(path, test, ["x"], [logits], scope)


@pytest.mark.parametrize("fold", [True, False])
def test_batchnorm_modes_test_program_matches_onnxruntime(fold, tmp_path):
    module = load_example("batchnorm_modes")
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        _, _, logits, loss = module.build(16, is_test=False)
        test = main.clone(for_test=True)
        mg.optimizer.SGD(0.1).minimize(loss)
    scope = _train(main, startup, _digit_batches(64), loss)
    path = export(test, tmp_path / "bn.onnx", fetch=[logits], scope=scope, fold_batch_norm=fold)
    kinds = {n.op_type for n in onnx.load(str(path)).graph.node}
    # bn1 folds into fc1 when folding is on; bn2 (trainable_statistics) normalises with the
    # batch's own statistics in test mode, spelled out with ReduceMean
    assert ("BatchNormalization" in kinds) != fold and "ReduceMean" in kinds
    # batch statistics need 2 values per channel: batch sizes 2 and 7
    _compare(path, test, ["x"], [logits.name], scope, batches=(2, 7))
