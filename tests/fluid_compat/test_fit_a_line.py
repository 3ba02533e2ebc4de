"""fluid's book test fit_a_line: linear regression of house prices, run with minigraph."""

import math
import time

import numpy as np

import minigraph as fluid
from tests.fluid_compat import datasets

BATCH_SIZE = 20
PASS_NUM = 200


def _test_batch():
    _, test_data = datasets.uci_housing()
    batch = next(fluid.batch(test_data, batch_size=10)())
    return np.array([d[0] for d in batch]).astype("float32"), np.array([d[1] for d in batch]).astype("float32")


def train(save_dirname, place):
    x = fluid.layers.data(name="x", shape=[13], dtype="float32")
    y_predict = fluid.layers.fc(input=x, size=1, act=None)
    test_program = fluid.default_main_program().clone(for_test=True)
    y = fluid.layers.data(name="y", shape=[1], dtype="float32")
    cost = fluid.layers.square_error_cost(input=y_predict, label=y)
    avg_cost = fluid.layers.mean(cost)
    sgd_optimizer = fluid.optimizer.SGD(learning_rate=0.001)
    sgd_optimizer.minimize(avg_cost)

    train_data, _ = datasets.uci_housing()
    train_reader = fluid.batch(fluid.reader.shuffle(train_data, buf_size=500, seed=1), batch_size=BATCH_SIZE)
    feeder = fluid.DataFeeder(place=place, feed_list=[x, y])
    exe = fluid.Executor(place)
    exe.run(fluid.default_startup_program())
    main_program = fluid.default_main_program()
    for pass_id in range(PASS_NUM):
        for data in train_reader():
            (avg_loss_value,) = exe.run(main_program, feed=feeder.feed(data), fetch_list=[avg_cost])
            if float(avg_loss_value) < 10.0:
                fluid.io.save_inference_model(save_dirname, ["x"], [y_predict], exe)
                (expected,) = exe.run(test_program, feed={"x": _test_batch()[0]}, fetch_list=[y_predict])
                return float(avg_loss_value), pass_id, expected
            assert not math.isnan(float(avg_loss_value)), "got NaN loss, training failed."
    raise AssertionError(f"fit_a_line: loss {float(avg_loss_value)} did not reach 10.0")


def infer(save_dirname, place):
    exe = fluid.Executor(place)
    inference_scope = fluid.core.Scope()
    with fluid.scope_guard(inference_scope):
        inference_program, feed_target_names, fetch_targets = fluid.io.load_inference_model(save_dirname, exe)
        test_feat, test_label = _test_batch()
        (results,) = exe.run(inference_program, feed={feed_target_names[0]: test_feat}, fetch_list=fetch_targets)
    return results, test_label


def test_fit_a_line(tmp_path):
    start = time.perf_counter()
    place = fluid.CPUPlace()
    with fluid.scope_guard(fluid.core.Scope()), fluid.program_guard(fluid.Program(), fluid.Program()):
        with fluid.unique_name.guard():
            loss, passes, expected = train(str(tmp_path / "fit_a_line.inference.model"), place)
    results, labels = infer(str(tmp_path / "fit_a_line.inference.model"), place)
    assert loss < 10.0
    np.testing.assert_allclose(results, expected, rtol=1e-5)  # the reloaded model is the trained one
    mse = float(np.mean((results - labels) ** 2))
    print(
        f"fit_a_line: batch loss {loss:.2f} < 10 after {passes + 1} passes, held-out MSE {mse:.1f}, "
        f"{time.perf_counter() - start:.1f} s"
    )
