"""DataLoader.from_generator: fluid's iterable loader over a Python generator.

    loader = mg.io.DataLoader.from_generator(feed_list=[img, label], capacity=8)
    loader.set_sample_list_generator(mg.reader.batch(samples, 32))
    for data in loader():
        exe.run(main, feed=data, fetch_list=[loss])

Each step yields what Paddle yields for one place: a list holding one feed dict
(`Executor.run` takes it as the dict), or with `return_list=True` a list of batch arrays in
feed_list order. Three ways to give the data, as in Paddle:

* `set_sample_generator(reader, batch_size, drop_last=True)`: the reader yields single
  samples (one field per feed variable);
* `set_sample_list_generator(reader)`: the reader yields lists of samples (batches);
* `set_batch_generator(reader)`: the reader yields one ready batch array per feed variable.

With `use_double_buffer` (the default) a background thread builds up to `capacity` batches
ahead of the training loop; without it, batches are built as they are asked for.
fluid's `io.batch`, `io.shuffle`, ... are the `minigraph.reader` decorators, re-exported
here. `iterable=False` (start/reset with the executor
pulling from a queue) is refused: iterate the loader instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from minigraph.data_feeder import DataFeeder
from minigraph.errors import ArgumentTypeError, ExecutionError, FeedError, InvalidArgumentError
from minigraph.reader import batch as batch
from minigraph.reader import buffered as buffered
from minigraph.reader import chain as chain
from minigraph.reader import compose as compose
from minigraph.reader import firstn as firstn
from minigraph.reader import map_readers as map_readers
from minigraph.reader import shuffle as shuffle

__all__ = ["DataLoader"]


class DataLoader:
    """Create one with `DataLoader.from_generator(...)`; see the module docstring."""

    def __init__(self, feed_list: Sequence[Any], capacity: int, use_double_buffer: bool, return_list: bool) -> None:
        self._feeder = DataFeeder(feed_list)
        self._capacity = capacity
        self._double_buffer = use_double_buffer
        self._return_list = return_list
        self._batches: Callable[[], Any] | None = None

    @staticmethod
    def from_generator(
        feed_list: Sequence[Any] | None = None,
        capacity: int | None = None,
        use_double_buffer: bool = True,
        iterable: bool = True,
        return_list: bool = False,
        use_multiprocess: bool = False,
        drop_last: bool = True,
    ) -> DataLoader:
        """A loader feeding the variables of `feed_list`. `use_multiprocess` is accepted and
        ignored (batches are built by a thread)."""
        if not iterable:
            raise NotImplementedError(
                "DataLoader.from_generator(iterable=False) is not supported (minigraph's executor does not "
                "pull from a queue); use iterable=True and `for data in loader(): exe.run(..., feed=data)`"
            )
        if not feed_list:
            raise ArgumentTypeError("DataLoader.from_generator: feed_list must list the data variables to feed")
        if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity <= 0):
            raise InvalidArgumentError(f"DataLoader.from_generator: capacity must be a positive int, got {capacity!r}")
        return DataLoader(feed_list, capacity or 1, bool(use_double_buffer), bool(return_list))

    def set_sample_generator(
        self, reader: Callable[[], Any], batch_size: int, drop_last: bool = True, places: Any = None
    ) -> DataLoader:
        """`reader` yields single samples; they are batched `batch_size` at a time."""
        return self.set_sample_list_generator(batch(reader, batch_size, drop_last), places)

    def set_sample_list_generator(self, reader: Callable[[], Any], places: Any = None) -> DataLoader:
        """`reader` yields lists of samples (what `reader.batch` makes)."""
        feed = self._feeder.feed

        def batches() -> Iterator[dict[str, np.ndarray]]:
            for minibatch in reader():
                yield feed(minibatch)

        self._batches = batches
        return self

    def set_batch_generator(self, reader: Callable[[], Any], places: Any = None) -> DataLoader:
        """`reader` yields a tuple/list of batch arrays, one per feed variable."""
        names = self._feeder.feed_names

        def batches() -> Iterator[dict[str, np.ndarray]]:
            for i, arrays in enumerate(reader()):
                arrays = arrays if isinstance(arrays, (list, tuple)) else [arrays]
                if len(arrays) != len(names):
                    raise FeedError(
                        f"DataLoader: batch {i} has {len(arrays)} array(s) but feed_list has {len(names)} "
                        f"({', '.join(names)})"
                    )
                yield {n: np.asarray(a) for n, a in zip(names, arrays)}

        self._batches = batches
        return self

    def __call__(self) -> Iterator[Any]:
        return iter(self)

    def __iter__(self) -> Iterator[Any]:
        if self._batches is None:
            raise ExecutionError(
                "DataLoader: no data source; call set_sample_generator, set_sample_list_generator or "
                "set_batch_generator first"
            )
        source = buffered(self._batches, self._capacity) if self._double_buffer else self._batches
        for feed in source():
            if self._return_list:
                yield [feed[n] for n in self._feeder.feed_names]
            else:
                yield [feed]
