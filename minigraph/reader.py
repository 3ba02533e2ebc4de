"""Reader decorators, as fluid scripts use them (`paddle.batch`, `paddle.reader.shuffle`).

A *reader* is a function of no arguments returning an iterable of samples (a "reader
creator" returns one). Decorators take readers and return readers, so a pipeline reads

    train_reader = mg.reader.batch(mg.reader.shuffle(samples, buf_size=500), batch_size=32)
    for minibatch in train_reader():          # a list of 32 samples
        exe.run(main, feed=feeder.feed(minibatch), fetch_list=[loss])

Nothing here knows about programs: turning samples into feeds is `DataFeeder`'s job.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from minigraph.errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["ComposeNotAligned", "batch", "buffered", "chain", "compose", "firstn", "map_readers", "shuffle"]

Reader = Callable[[], Iterable[Any]]


def _check_reader(where: str, reader: Any) -> None:
    if not callable(reader):
        raise ArgumentTypeError(
            f"{where}: expected a reader (a function returning an iterable of samples), got {type(reader).__name__}; "
            "pass the function itself, not its result"
        )


def batch(reader: Reader, batch_size: int, drop_last: bool = False) -> Reader:
    """Group the samples of `reader` into lists of `batch_size`; the last, shorter list is
    kept unless `drop_last`."""
    _check_reader("batch", reader)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise InvalidArgumentError(f"batch: batch_size must be a positive int, got {batch_size!r}")

    def batched() -> Iterator[list[Any]]:
        group: list[Any] = []
        for sample in reader():
            group.append(sample)
            if len(group) == batch_size:
                yield group
                group = []
        if group and not drop_last:
            yield group

    return batched


def shuffle(reader: Reader, buf_size: int, seed: int | None = None) -> Reader:
    """Shuffle within windows of `buf_size` samples (a full shuffle when it covers the data).
    Each pass draws a new order; `seed` makes the sequence of orders reproducible."""
    _check_reader("shuffle", reader)
    if isinstance(buf_size, bool) or not isinstance(buf_size, int) or buf_size <= 0:
        raise InvalidArgumentError(f"shuffle: buf_size must be a positive int, got {buf_size!r}")
    rng = np.random.default_rng(seed)

    def shuffled() -> Iterator[Any]:
        buf: list[Any] = []
        for sample in reader():
            buf.append(sample)
            if len(buf) >= buf_size:
                yield from (buf[i] for i in rng.permutation(len(buf)))
                buf = []
        yield from (buf[i] for i in rng.permutation(len(buf)))

    return shuffled


_END = object()


def buffered(reader: Reader, size: int) -> Reader:
    """Read ahead up to `size` samples in a background thread (overlaps reading with
    training). An exception in the reader is raised again in the consumer."""
    _check_reader("buffered", reader)
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise InvalidArgumentError(f"buffered: size must be a positive int, got {size!r}")

    def read_ahead() -> Iterator[Any]:
        q: queue.Queue[Any] = queue.Queue(maxsize=size)
        stop = threading.Event()

        def produce() -> None:
            try:
                for sample in reader():
                    while not stop.is_set():
                        try:
                            q.put(sample, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                q.put(_END)
            except BaseException as e:  # handed to the consumer, which re-raises it
                q.put(_Failure(e))

        worker = threading.Thread(target=produce, daemon=True)
        worker.start()
        try:
            while True:
                item = q.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            # The consumer may stop early (break): let the producer finish instead of blocking.
            stop.set()

    return read_ahead


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ComposeNotAligned(ValueError):
    """compose(): the readers ran out at different lengths."""


def compose(*readers: Reader, check_alignment: bool = True) -> Reader:
    """One sample from each reader, joined into one flat tuple: (a, (b, c)) -> (a, b, c).
    Readers of different lengths raise ComposeNotAligned (with check_alignment, the default)
    or stop at the shortest."""
    for r in readers:
        _check_reader("compose", r)

    def flat(sample: Any) -> tuple[Any, ...]:
        return tuple(sample) if isinstance(sample, tuple) else (sample,)

    def composed() -> Iterator[tuple[Any, ...]]:
        iters = [iter(r()) for r in readers]
        if not check_alignment:
            for samples in zip(*iters):
                yield sum((flat(s) for s in samples), ())
            return
        missing = object()
        for samples in itertools.zip_longest(*iters, fillvalue=missing):
            if any(s is missing for s in samples):
                raise ComposeNotAligned("compose: the readers yield different numbers of samples")
            yield sum((flat(s) for s in samples), ())

    return composed


def map_readers(func: Callable[..., Any], *readers: Reader) -> Reader:
    """func(sample_of_reader_1, sample_of_reader_2, ...) for each step of the readers."""
    for r in readers:
        _check_reader("map_readers", r)

    def mapped() -> Iterator[Any]:
        for samples in zip(*(r() for r in readers)):
            yield func(*samples)

    return mapped


def chain(*readers: Reader) -> Reader:
    """The samples of each reader in turn."""
    for r in readers:
        _check_reader("chain", r)

    def chained() -> Iterator[Any]:
        for r in readers:
            yield from r()

    return chained


def firstn(reader: Reader, n: int) -> Reader:
    """At most the first `n` samples of `reader`."""
    _check_reader("firstn", reader)

    def first() -> Iterator[Any]:
        yield from itertools.islice(reader(), n)

    return first
