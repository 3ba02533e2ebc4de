"""fluid's book test recognize_digits: an MLP and a conv net (simple_img_conv_pool) on
28x28 digits, tested through a for_test clone, saved and reloaded with fluid's file names."""

import math
import time

import numpy as np
import pytest

import minigraph as fluid
from tests.fluid_compat import datasets

BATCH_SIZE = 64
PASS_NUM = 5


def loss_net(hidden, label):
    prediction = fluid.layers.fc(input=hidden, size=10, act="softmax")
    loss = fluid.layers.cross_entropy(input=prediction, label=label)
    avg_loss = fluid.layers.mean(loss)
    acc = fluid.layers.accuracy(input=prediction, label=label)
    return prediction, avg_loss, acc


def mlp(img, label):
    hidden = fluid.layers.fc(input=img, size=200, act="tanh")
    hidden = fluid.layers.fc(input=hidden, size=200, act="tanh")
    return loss_net(hidden, label)


def conv_net(img, label):
    conv_pool_1 = fluid.nets.simple_img_conv_pool(
        input=img, filter_size=5, num_filters=20, pool_size=2, pool_stride=2, act="relu"
    )
    conv_pool_1 = fluid.layers.batch_norm(conv_pool_1)
    conv_pool_2 = fluid.nets.simple_img_conv_pool(
        input=conv_pool_1, filter_size=5, num_filters=50, pool_size=2, pool_stride=2, act="relu"
    )
    return loss_net(conv_pool_2, label)


def train(nn_type, save_dirname, model_filename=None, params_filename=None):
    place = fluid.CUDAPlace(0) if fluid.core.is_compiled_with_cuda() else fluid.CPUPlace()
    img = fluid.layers.data(name="img", shape=[1, 28, 28], dtype="float32")
    label = fluid.layers.data(name="label", shape=[1], dtype="int64")
    net_conf = mlp if nn_type == "mlp" else conv_net
    prediction, avg_loss, acc = net_conf(img, label)
    test_program = fluid.default_main_program().clone(for_test=True)
    optimizer = fluid.optimizer.Adam(learning_rate=0.001)
    optimizer.minimize(avg_loss)

    exe = fluid.Executor(place)
    train_data, test_data = datasets.digits()
    train_reader = fluid.batch(fluid.reader.shuffle(train_data, buf_size=500, seed=2), batch_size=BATCH_SIZE)
    test_reader = fluid.batch(test_data, batch_size=BATCH_SIZE)
    feeder = fluid.DataFeeder(feed_list=[img, label], place=place)
    exe.run(fluid.default_startup_program())
    main_program = fluid.default_main_program()
    for pass_id in range(PASS_NUM):
        for batch_id, data in enumerate(train_reader()):
            exe.run(main_program, feed=feeder.feed(data))
            if (batch_id + 1) % 10 == 0:
                acc_set, avg_loss_set = [], []
                for test_data_batch in test_reader():
                    acc_np, avg_loss_np = exe.run(
                        program=test_program, feed=feeder.feed(test_data_batch), fetch_list=[acc, avg_loss]
                    )
                    acc_set.append(float(acc_np))
                    avg_loss_set.append(float(avg_loss_np))
                acc_val, avg_loss_val = np.array(acc_set).mean(), np.array(avg_loss_set).mean()
                if float(acc_val) > 0.2 or pass_id == (PASS_NUM - 1):
                    fluid.io.save_inference_model(
                        save_dirname,
                        ["img"],
                        [prediction],
                        exe,
                        model_filename=model_filename,
                        params_filename=params_filename,
                    )
                    batch = next(test_reader())
                    (expected,) = exe.run(test_program, feed=feeder.feed(batch), fetch_list=[prediction])
                    return float(acc_val), float(avg_loss_val), pass_id, batch_id, expected
                assert not math.isnan(float(avg_loss_val)), "got NaN loss, training failed."
    raise AssertionError("recognize_digits did not finish")


def infer(save_dirname, model_filename=None, params_filename=None):
    place = fluid.CPUPlace()
    exe = fluid.Executor(place)
    inference_scope = fluid.core.Scope()
    with fluid.scope_guard(inference_scope):
        inference_program, feed_target_names, fetch_targets = fluid.io.load_inference_model(
            save_dirname, exe, model_filename, params_filename
        )
        _, test_data = datasets.digits()
        batch = next(fluid.batch(test_data, batch_size=BATCH_SIZE)())
        tensor_img = np.array([d[0] for d in batch]).reshape(-1, 1, 28, 28).astype("float32")
        labels = np.array([d[1] for d in batch])
        (results,) = exe.run(inference_program, feed={feed_target_names[0]: tensor_img}, fetch_list=fetch_targets)
    return results, labels


@pytest.mark.parametrize("nn_type,filenames", [("mlp", (None, None)), ("conv", ("__model__", "__params__"))])
def test_recognize_digits(nn_type, filenames, tmp_path):
    start = time.perf_counter()
    save_dirname = str(tmp_path / f"recognize_digits_{nn_type}.inference.model")
    with fluid.scope_guard(fluid.core.Scope()), fluid.program_guard(fluid.Program(), fluid.Program()):
        with fluid.unique_name.guard():
            acc, loss, pass_id, batch_id, expected = train(nn_type, save_dirname, *filenames)
    results, labels = infer(save_dirname, *filenames)
    assert acc > 0.2
    np.testing.assert_allclose(results, expected, rtol=1e-4, atol=1e-6)
    reloaded_acc = float((results.argmax(1) == labels).mean())
    print(
        f"recognize_digits {nn_type}: test acc {acc:.3f} > 0.2 (loss {loss:.3f}) at pass {pass_id} batch "
        f"{batch_id + 1}, reloaded model acc {reloaded_acc:.3f}, {time.perf_counter() - start:.1f} s"
    )
