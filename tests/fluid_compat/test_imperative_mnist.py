"""fluid's imperative (dygraph) MNIST test: a Layer subclass built from fluid.dygraph.nn's
Conv2D, Pool2D and Linear, seeded through default_startup_program().random_seed inside
dygraph.guard(), trained eagerly on 28x28 digits, then traced to a static inference model."""

import time

import numpy as np

import minigraph as fluid
from tests.fluid_compat import datasets

to_variable = fluid.dygraph.base.to_variable
Conv2D, Pool2D, Linear = fluid.dygraph.nn.Conv2D, fluid.dygraph.nn.Pool2D, fluid.dygraph.nn.Linear

BATCH_SIZE = 64
SEED = 90


class SimpleImgConvPool(fluid.dygraph.Layer):
    def __init__(
        self,
        num_channels,
        num_filters,
        filter_size,
        pool_size,
        pool_stride,
        pool_padding=0,
        pool_type="max",
        global_pooling=False,
        conv_stride=1,
        conv_padding=0,
        conv_dilation=1,
        conv_groups=1,
        act=None,
        use_cudnn=False,
        param_attr=None,
        bias_attr=None,
    ):
        super().__init__()
        self._conv2d = Conv2D(
            num_channels=num_channels,
            num_filters=num_filters,
            filter_size=filter_size,
            stride=conv_stride,
            padding=conv_padding,
            dilation=conv_dilation,
            groups=conv_groups,
            param_attr=None,
            bias_attr=None,
            act=act,
            use_cudnn=use_cudnn,
        )
        self._pool2d = Pool2D(
            pool_size=pool_size,
            pool_type=pool_type,
            pool_stride=pool_stride,
            pool_padding=pool_padding,
            global_pooling=global_pooling,
            use_cudnn=use_cudnn,
        )

    def forward(self, inputs):
        x = self._conv2d(inputs)
        x = self._pool2d(x)
        return x


class MNIST(fluid.dygraph.Layer):
    def __init__(self):
        super().__init__()
        self._simple_img_conv_pool_1 = SimpleImgConvPool(1, 20, 5, 2, 2, act="relu")
        self._simple_img_conv_pool_2 = SimpleImgConvPool(20, 50, 5, 2, 2, act="relu")
        self.pool_2_shape = 50 * 4 * 4
        size = 10
        scale = (2.0 / (self.pool_2_shape**2 * size)) ** 0.5
        self._fc = Linear(
            self.pool_2_shape,
            10,
            param_attr=fluid.param_attr.ParamAttr(
                initializer=fluid.initializer.NormalInitializer(loc=0.0, scale=scale)
            ),
            act="softmax",
        )

    def forward(self, inputs):
        x = self._simple_img_conv_pool_1(inputs)
        x = self._simple_img_conv_pool_2(x)
        x = fluid.layers.reshape(x, shape=[-1, self.pool_2_shape])
        x = self._fc(x)
        return x


def _batches(reader):
    for data in fluid.batch(reader, batch_size=BATCH_SIZE, drop_last=True)():
        dy_x_data = np.array([x[0].reshape(1, 28, 28) for x in data]).astype("float32")
        y_data = np.array([x[1] for x in data]).astype("int64").reshape(BATCH_SIZE, 1)
        yield dy_x_data, y_data


def _accuracy(mnist, reader):
    mnist.eval()
    accs = []
    for x_data, y_data in _batches(reader):
        accs.append(float(fluid.layers.accuracy(mnist(to_variable(x_data)), to_variable(y_data)).numpy()))
    mnist.train()
    return float(np.mean(accs))


def train_eagerly(epoch_num=2, stop_after=None):
    train_data, test_data = datasets.digits()
    with fluid.dygraph.guard():
        fluid.default_startup_program().random_seed = SEED
        fluid.default_main_program().random_seed = SEED
        mnist = MNIST()
        adam = fluid.optimizer.AdamOptimizer(learning_rate=0.001, parameter_list=mnist.parameters())
        losses = []
        for epoch in range(epoch_num):
            for batch_id, (dy_x_data, y_data) in enumerate(_batches(train_data)):
                img = to_variable(dy_x_data)
                label = to_variable(y_data)
                label.stop_gradient = True
                cost = mnist(img)
                loss = fluid.layers.cross_entropy(cost, label)
                avg_loss = fluid.layers.mean(loss)
                losses.append(float(avg_loss.numpy()))
                avg_loss.backward()
                adam.minimize(avg_loss)
                mnist.clear_gradients()
                if stop_after is not None and len(losses) == stop_after:
                    return mnist, losses, None, epoch, batch_id, None
                if (batch_id + 1) % 10 == 0:
                    acc = _accuracy(mnist, test_data)
                    if acc > 0.2:
                        return mnist, losses, acc, epoch, batch_id, img.numpy()
    raise AssertionError("imperative MNIST: test accuracy never passed 0.2")


def test_imperative_mnist(tmp_path):
    start = time.perf_counter()
    mnist, losses, acc, epoch, batch_id, example = train_eagerly()
    with fluid.dygraph.guard():
        expected = mnist.eval()(to_variable(example)).numpy()
    traced = fluid.jit.trace(mnist, [example], feed_names=["img"])
    exe = fluid.Executor(fluid.CPUPlace())
    traced.save_inference_model(str(tmp_path / "mnist.inference.model"), exe)
    with fluid.scope_guard(fluid.core.Scope()):
        program, feeds, fetches = fluid.io.load_inference_model(str(tmp_path / "mnist.inference.model"), exe)
        (results,) = exe.run(program, feed={feeds[0]: example}, fetch_list=fetches)
    np.testing.assert_allclose(results, expected, rtol=1e-4, atol=1e-6)
    # the same seed gives the same initial weights and the same first losses
    assert train_eagerly(stop_after=3)[1] == losses[:3]
    assert acc > 0.2
    print(
        f"imperative mnist: loss {losses[0]:.3f} -> {losses[-1]:.3f}, test acc {acc:.3f} > 0.2 at epoch {epoch} "
        f"batch {batch_id + 1}, {time.perf_counter() - start:.1f} s"
    )
