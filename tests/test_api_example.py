"""The example at the top of the API contract runs as written."""

import os

import numpy as np

import minigraph as mg


def run_contract_example() -> tuple[mg.Program, list[float], np.ndarray, np.ndarray]:
    """The contract's example up to its last line (drawing), with its values checked."""
    rng = np.random.default_rng(0)
    fixed = (rng.random((8, 3, 8, 8)).astype("float32"), rng.integers(0, 10, (8, 1)))
    batches = [fixed] * 6  # one batch, memorised: the loss must fall
    xb, yb = batches[0]

    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 3, 8, 8], dtype="float32")
        label = mg.data("label", shape=[None, 1], dtype="int64")
        h = mg.layers.conv2d(x, num_filters=4, filter_size=3, padding=1)
        h = mg.layers.batch_norm(h, act="relu", moving_mean_name="bn_mean", moving_variance_name="bn_var")
        logits = mg.layers.fc(h, size=10)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        test_prog = main.clone(for_test=True)  # before minimize: forward only
        mg.optimizer.Momentum(0.1, momentum=0.9).minimize(loss)
        avg = mg.optimizer.ModelAverage(0.15, min_average_window=2, max_average_window=10)

    scope = mg.Scope()
    with mg.scope_guard(scope):
        exe = mg.Executor()
        exe.run(startup)  # runs the initializers
        losses = []
        for xb, yb in batches:
            (loss_v,) = exe.run(main, feed={"x": xb, "label": yb}, fetch_list=[loss])
            losses.append(float(loss_v))
        trained = np.array(scope.find_var("fc_0.w_0").get_tensor())
        with avg.apply(exe):  # averaged weights inside, restored after
            (probs,) = exe.run(test_prog, feed={"x": xb, "label": yb}, fetch_list=[logits])
            assert not np.array_equal(np.array(scope.find_var("fc_0.w_0").get_tensor()), trained)
        np.testing.assert_array_equal(scope.find_var("fc_0.w_0").get_tensor(), trained)
        bn_mean = mg.global_scope().find_var("bn_mean").get_tensor()  # numpy array, shape [4]
    assert isinstance(bn_mean, np.ndarray) and bn_mean.shape == (4,) and np.any(bn_mean != 0)
    assert probs.shape == (8, 10) and losses[-1] < losses[0]
    return main, losses, probs, bn_mean


def test_api_contract_example_runs_as_written():
    main, losses, probs, bn_mean = run_contract_example()
    assert len(losses) == 6 and np.all(np.isfinite(probs))
    # the drawing's DOT text needs no Graphviz program
    assert "batch_norm" in mg.viz.to_dot(main).source


def test_api_contract_example_draws_its_graph(tmp_path, monkeypatch, requires_dot):
    monkeypatch.chdir(tmp_path)
    main, _, _, _ = run_contract_example()
    path = mg.viz.render(main, "train_graph", format="svg")  # writes train_graph.svg (+ .dot)
    assert os.path.exists("train_graph.svg") and os.path.exists("train_graph.dot")
    assert os.path.abspath(path) == os.path.abspath("train_graph.svg")
