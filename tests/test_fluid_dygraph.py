"""fluid-era eager names: dygraph.Layer, dygraph.nn.*, dygraph.base.to_variable, use_cudnn,
and seeding through default_startup_program().random_seed inside guard()."""

import numpy as np

import minigraph as fluid
from minigraph.dygraph.base import to_variable
from minigraph.dygraph.nn import BatchNorm, Conv2D, Embedding, Linear, Pool2D


class Net(fluid.dygraph.Layer):
    def __init__(self):
        super().__init__()
        self.conv = Conv2D(num_channels=1, num_filters=2, filter_size=3, act="relu", use_cudnn=False)
        self.pool = Pool2D(pool_size=2, pool_stride=2, use_cudnn=True)
        self.bn = BatchNorm(2)
        self.fc = Linear(2 * 3 * 3, 3, act="softmax")

    def forward(self, x):
        h = self.bn(self.pool(self.conv(x)))
        return self.fc(fluid.layers.reshape(h, [-1, 18]))


def _session(seed, steps=2):
    x = np.random.default_rng(0).normal(size=(4, 1, 8, 8)).astype("float32")
    with fluid.dygraph.guard(fluid.CPUPlace()):
        fluid.default_startup_program().random_seed = seed
        fluid.default_main_program().random_seed = seed
        net = Net()
        opt = fluid.optimizer.SGDOptimizer(learning_rate=0.1, parameter_list=net.parameters())
        losses = []
        for _ in range(steps):
            out = fluid.layers.dropout(net(to_variable(x)), dropout_prob=0.3)
            loss = fluid.layers.mean(out)
            loss.backward()
            opt.minimize(loss)
            net.clear_gradients()
            losses.append(float(loss.numpy()))
        return {k: v.copy() for k, v in net.state_dict().items()}, losses


def test_names_are_the_layer_classes():
    assert fluid.dygraph.Layer is fluid.nn.Layer
    assert fluid.dygraph.nn.Conv2D is fluid.nn.Conv2D and fluid.dygraph.Linear is fluid.nn.Linear
    assert fluid.dygraph.base.to_variable is fluid.dygraph.to_variable
    assert fluid.dygraph.nn.Embedding is fluid.nn.Embedding


def test_random_seed_inside_guard_makes_sessions_repeat():
    first, losses1 = _session(90)
    again, losses2 = _session(90)
    other, _ = _session(91)
    assert first.keys() == again.keys()
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])
    assert losses1 == losses2  # initial weights and dropout masks both repeat
    assert any(not np.array_equal(first[k], other[k]) for k in first)


def test_default_programs_are_the_session_tape_only_inside_guard():
    before = fluid.default_main_program()
    with fluid.dygraph.guard():
        inside = fluid.default_main_program()
        assert inside is fluid.default_startup_program() and inside is not before
    assert fluid.default_main_program() is before


def test_embedding_layer_eager_gradient_skips_the_padding_row():
    with fluid.dygraph.guard():
        emb = Embedding(size=[4, 2], padding_idx=-1)
        ids = to_variable(np.array([[0, 3], [3, 1]]))
        out = emb(ids)
        assert out.shape == (2, 2, 2)
        np.testing.assert_array_equal(out.numpy()[0, 1], [0, 0])
        fluid.layers.reduce_sum(out).backward()
        np.testing.assert_array_equal(emb.weight.gradient(), [[1, 1], [1, 1], [0, 0], [0, 0]])
