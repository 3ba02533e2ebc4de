"""fluid's book test image_classification: ResNet-32 and VGG-16 with batch_norm and dropout
(fluid.nets.img_conv_group), on small synthetic 10-class images.

To keep numpy training to seconds, the images are 8x8 for ResNet (its final average pool
covers the 2x2 map that leaves) and VGG's widths are divided by 8 (64 -> 8 channels, fc
4096 -> 64) on 32x32 images; the layer structure is the book's."""

import math
import time

import numpy as np
import pytest

import minigraph as fluid
from tests.fluid_compat import datasets

BATCH_SIZE = 32
PASS_NUM = 3


def resnet_cifar10(input, depth=32):
    def conv_bn_layer(input, ch_out, filter_size, stride, padding, act="relu", bias_attr=False):
        tmp = fluid.layers.conv2d(
            input=input,
            filter_size=filter_size,
            num_filters=ch_out,
            stride=stride,
            padding=padding,
            act=None,
            bias_attr=bias_attr,
        )
        return fluid.layers.batch_norm(input=tmp, act=act)

    def shortcut(input, ch_in, ch_out, stride):
        if ch_in != ch_out:
            return conv_bn_layer(input, ch_out, 1, stride, 0, None)
        return input

    def basicblock(input, ch_in, ch_out, stride):
        tmp = conv_bn_layer(input, ch_out, 3, stride, 1)
        tmp = conv_bn_layer(tmp, ch_out, 3, 1, 1, act=None, bias_attr=True)
        short = shortcut(input, ch_in, ch_out, stride)
        return fluid.layers.elementwise_add(x=tmp, y=short, act="relu")

    def layer_warp(block_func, input, ch_in, ch_out, count, stride):
        tmp = block_func(input, ch_in, ch_out, stride)
        for _ in range(1, count):
            tmp = block_func(tmp, ch_out, ch_out, 1)
        return tmp

    assert (depth - 2) % 6 == 0
    n = (depth - 2) // 6
    conv1 = conv_bn_layer(input=input, ch_out=16, filter_size=3, stride=1, padding=1)
    res1 = layer_warp(basicblock, conv1, 16, 16, n, 1)
    res2 = layer_warp(basicblock, res1, 16, 32, n, 2)
    res3 = layer_warp(basicblock, res2, 32, 64, n, 2)
    return fluid.layers.pool2d(input=res3, pool_size=res3.shape[-1], pool_type="avg", pool_stride=1)


def vgg16_bn_drop(input, width=8):
    def conv_block(input, num_filter, groups, dropouts):
        return fluid.nets.img_conv_group(
            input=input,
            pool_size=2,
            pool_stride=2,
            conv_num_filter=[num_filter] * groups,
            conv_filter_size=3,
            conv_act="relu",
            conv_with_batchnorm=True,
            conv_batchnorm_drop_rate=dropouts,
            pool_type="max",
        )

    conv1 = conv_block(input, 64 // width, 2, [0.3, 0])
    conv2 = conv_block(conv1, 128 // width, 2, [0.4, 0])
    conv3 = conv_block(conv2, 256 // width, 3, [0.4, 0.4, 0])
    conv4 = conv_block(conv3, 512 // width, 3, [0.4, 0.4, 0])
    conv5 = conv_block(conv4, 512 // width, 3, [0.4, 0.4, 0])
    drop = fluid.layers.dropout(x=conv5, dropout_prob=0.5)
    fc1 = fluid.layers.fc(input=drop, size=4096 // width // 8, act=None)
    bn = fluid.layers.batch_norm(input=fc1, act="relu")
    drop2 = fluid.layers.dropout(x=bn, dropout_prob=0.5)
    return fluid.layers.fc(input=drop2, size=4096 // width // 8, act=None)


def train(net_type, save_dirname, size):
    classdim = 10
    data_shape = [3, size, size]
    images = fluid.layers.data(name="pixel", shape=data_shape, dtype="float32")
    label = fluid.layers.data(name="label", shape=[1], dtype="int64")
    net = vgg16_bn_drop(images) if net_type == "vgg" else resnet_cifar10(images, 32)
    predict = fluid.layers.fc(input=net, size=classdim, act="softmax")
    cost = fluid.layers.cross_entropy(input=predict, label=label)
    avg_cost = fluid.layers.mean(cost)
    acc = fluid.layers.accuracy(input=predict, label=label)
    test_program = fluid.default_main_program().clone(for_test=True)
    optimizer = fluid.optimizer.Adam(learning_rate=0.001)
    optimizer.minimize(avg_cost)

    place = fluid.CPUPlace()
    exe = fluid.Executor(place)
    train_data, test_data = datasets.cifar_like(n=800, size=size)
    train_reader = fluid.batch(fluid.reader.shuffle(train_data, buf_size=128 * 10, seed=3), batch_size=BATCH_SIZE)
    test_reader = fluid.batch(test_data, batch_size=BATCH_SIZE)
    feeder = fluid.DataFeeder(place=place, feed_list=[images, label])
    exe.run(fluid.default_startup_program())
    main_program = fluid.default_main_program()
    first_loss, steps = None, 0
    for _ in range(PASS_NUM):
        for batch_id, data in enumerate(train_reader()):
            (loss,) = exe.run(main_program, feed=feeder.feed(data), fetch_list=[avg_cost])
            first_loss = float(loss) if first_loss is None else first_loss
            steps += 1
            if batch_id % 10 == 0:
                acc_list, avg_loss_list = [], []
                for test_batch in test_reader():
                    loss_t, acc_t = exe.run(
                        program=test_program, feed=feeder.feed(test_batch), fetch_list=[avg_cost, acc]
                    )
                    assert not math.isnan(float(loss_t)), "got NaN loss, training failed."
                    acc_list.append(float(acc_t))
                    avg_loss_list.append(float(loss_t))
                    break  # one test batch, as the book test does for speed
                acc_value = np.array(acc_list).mean()
                # NOTE: the book's own threshold (0.01) holds at once; train a few more steps
                # so the figures say something, then save as the book does.
                if acc_value > 0.01 and steps > 20:
                    fluid.io.save_inference_model(save_dirname, ["pixel"], [predict], exe)
                    batch = next(test_reader())
                    (expected,) = exe.run(test_program, feed=feeder.feed(batch), fetch_list=[predict])
                    return float(acc_value), float(np.mean(avg_loss_list)), first_loss, steps, expected
    raise AssertionError(f"{net_type}: test accuracy never passed 0.01")


def infer(save_dirname, size):
    exe = fluid.Executor(fluid.CPUPlace())
    with fluid.scope_guard(fluid.core.Scope()):
        inference_program, feed_target_names, fetch_targets = fluid.io.load_inference_model(save_dirname, exe)
        _, test_data = datasets.cifar_like(n=800, size=size)
        batch = next(fluid.batch(test_data, batch_size=BATCH_SIZE)())
        tensor_img = np.array([d[0] for d in batch]).reshape(-1, 3, size, size)
        (results,) = exe.run(inference_program, feed={feed_target_names[0]: tensor_img}, fetch_list=fetch_targets)
    return results


@pytest.mark.parametrize("net_type,size", [("resnet", 8), ("vgg", 32)])
def test_image_classification(net_type, size, tmp_path):
    start = time.perf_counter()
    save_dirname = str(tmp_path / f"image_classification_{net_type}.inference.model")
    with fluid.scope_guard(fluid.core.Scope()), fluid.program_guard(fluid.Program(), fluid.Program()):
        with fluid.unique_name.guard():
            acc, loss, first_loss, steps, expected = train(net_type, save_dirname, size)
    results = infer(save_dirname, size)
    assert acc > 0.01
    np.testing.assert_allclose(results, expected, rtol=1e-4, atol=1e-6)
    print(
        f"image_classification {net_type}: test acc {acc:.3f} > 0.01 (test loss {loss:.3f}, first train loss "
        f"{first_loss:.3f}) after {steps} steps, {time.perf_counter() - start:.1f} s"
    )
