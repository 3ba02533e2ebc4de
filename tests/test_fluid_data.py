"""Fluid's data path: reader decorators, DataFeeder, DataLoader.from_generator, LoDTensor."""

import numpy as np
import pytest

import minigraph as mg
from minigraph import reader


def _range_reader(n):
    return lambda: iter(range(n))


def test_batch_keeps_or_drops_the_last_short_batch():
    assert list(reader.batch(_range_reader(7), 3)()) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(reader.batch(_range_reader(7), 3, drop_last=True)()) == [[0, 1, 2], [3, 4, 5]]
    assert mg.batch is reader.batch and mg.io.batch is reader.batch
    with pytest.raises(ValueError, match="batch_size"):
        reader.batch(_range_reader(3), 0)
    with pytest.raises(TypeError, match="not its result"):
        reader.batch(range(3), 2)


def test_shuffle_permutes_within_windows_and_is_reproducible_with_a_seed():
    r = reader.shuffle(_range_reader(10), buf_size=5, seed=1)
    first, second = list(r()), list(r())
    assert sorted(first[:5]) == [0, 1, 2, 3, 4] and sorted(first[5:]) == [5, 6, 7, 8, 9]
    assert first != list(range(10)) and first != second  # a new order each pass
    again = reader.shuffle(_range_reader(10), buf_size=5, seed=1)
    assert list(again()) == first


def test_buffered_yields_everything_in_order_and_reraises_errors():
    assert list(reader.buffered(_range_reader(50), 4)()) == list(range(50))

    def broken():
        yield 1
        raise OSError("disk gone")

    it = reader.buffered(broken, 2)()
    assert next(it) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(it)
    # stopping early does not hang the producer
    for i in reader.buffered(_range_reader(1000), 2)():
        if i == 3:
            break


def test_compose_map_chain_firstn():
    a = lambda: iter([(1, 2), (3, 4)])  # noqa: E731
    b = lambda: iter(["x", "y"])  # noqa: E731
    assert list(reader.compose(a, b)()) == [(1, 2, "x"), (3, 4, "y")]
    with pytest.raises(reader.ComposeNotAligned):
        list(reader.compose(a, _range_reader(3))())
    assert list(reader.compose(a, _range_reader(3), check_alignment=False)()) == [(1, 2, 0), (3, 4, 1)]
    assert list(reader.map_readers(lambda x, y: x * y, _range_reader(3), _range_reader(3))()) == [0, 1, 4]
    assert list(reader.chain(_range_reader(2), _range_reader(2))()) == [0, 1, 0, 1]
    assert list(reader.firstn(_range_reader(10), 3)()) == [0, 1, 2]


def _net():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        img = mg.layers.data("img", [1, 2, 2])
        label = mg.layers.data("label", [1], dtype="int64")
        loss = mg.layers.mean(mg.layers.cast(label, "float32") + mg.layers.reduce_sum(img))
    return main, img, label, loss


def test_data_feeder_stacks_casts_and_reshapes_fields():
    main, img, label, _ = _net()
    feeder = mg.DataFeeder(feed_list=[img, "label"], place=mg.CPUPlace(), program=main)
    samples = [(np.arange(4), 3), (np.ones(4), 1)]
    feed = feeder.feed(samples)
    assert feed["img"].shape == (2, 1, 2, 2) and feed["img"].dtype == np.float32
    np.testing.assert_array_equal(feed["label"], [[3], [1]])
    assert feed["label"].dtype == np.int64
    with pytest.raises(mg.FeedError, match="1 field.*feed_list has 2"):
        feeder.feed([(np.arange(4),)])
    with pytest.raises(mg.FeedError, match="does not reshape"):
        feeder.feed([(np.arange(5), 1)])
    with pytest.raises(mg.FeedError, match="no variable named 'nope'"):
        mg.DataFeeder(["nope"], None, program=main)


def _samples():
    for i in range(5):
        yield np.full(4, i, "float32"), i


def test_data_loader_three_ways_give_the_same_feeds():
    main, img, label, loss = _net()
    exe, scope = mg.Executor(), mg.Scope()
    losses = {}
    for how in ("sample", "sample_list", "batch"):
        loader = mg.io.DataLoader.from_generator(feed_list=[img, label], capacity=2)
        if how == "sample":
            loader.set_sample_generator(_samples, batch_size=2, drop_last=False)
        elif how == "sample_list":
            loader.set_sample_list_generator(reader.batch(_samples, 2))
        else:

            def batches():
                for group in reader.batch(_samples, 2)():
                    yield np.stack([g[0].reshape(1, 2, 2) for g in group]), np.array([[g[1]] for g in group])

            loader.set_batch_generator(batches)
        losses[how] = [exe.run(main, feed=data, fetch_list=[loss], scope=scope)[0] for data in loader()]
    np.testing.assert_allclose(losses["sample"], [0.5 + 4.0, 2.5 + 20.0, 4.0 + 16.0])
    np.testing.assert_allclose(losses["sample_list"], losses["sample"])
    np.testing.assert_allclose(losses["batch"], losses["sample"])


def test_data_loader_return_list_and_refusals():
    _, img, label, _ = _net()
    loader = mg.io.DataLoader.from_generator(feed_list=[img, label], return_list=True, use_double_buffer=False)
    loader.set_sample_generator(_samples, batch_size=2)  # drop_last=True by default
    steps = list(loader())
    assert len(steps) == 2 and steps[0][0].shape == (2, 1, 2, 2) and steps[1][1].tolist() == [[2], [3]]
    with pytest.raises(NotImplementedError, match="iterable=True"):
        mg.io.DataLoader.from_generator(feed_list=[img], iterable=False)
    with pytest.raises(RuntimeError, match="no data source"):
        list(mg.io.DataLoader.from_generator(feed_list=[img])())


def test_lod_tensor_is_dense_and_refuses_a_lod():
    t = mg.core.LoDTensor()
    t.set(np.ones((2, 3), "float32"), mg.CPUPlace())
    assert t.shape() == [2, 3] and t.lod() == []
    np.testing.assert_array_equal(np.array(t), np.ones((2, 3)))
    with pytest.raises(mg.GraphBuildError, match="pad the sequences"):
        t.set_recursive_sequence_lengths([[1, 1]])
    with pytest.raises(mg.GraphBuildError, match="mask"):
        mg.core.create_lod_tensor(np.ones((3, 1)), [[2, 1]], mg.CPUPlace())
    assert mg.core.create_lod_tensor(np.ones((3, 1)), [], None).shape() == [3, 1]
