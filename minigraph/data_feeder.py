"""DataFeeder: fluid's bridge from a list of samples to an executor's feed dict.

    feeder = mg.DataFeeder(feed_list=[img, label], place=mg.CPUPlace())
    for minibatch in train_reader():               # e.g. [(img_0, label_0), (img_1, label_1), ...]
        exe.run(main, feed=feeder.feed(minibatch), fetch_list=[loss])

Each sample holds one field per feed variable, in `feed_list` order. A field is stacked over
the batch, cast to its variable's dtype and, when the stack's rank differs from the
variable's, reshaped to the variable's shape (a -1 there takes the batch): flat 784-pixel
images fill a [-1, 1, 28, 28] variable, and plain ints a [-1, 1] label.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from minigraph.errors import ArgumentTypeError, FeedError
from minigraph.ir.framework import default_main_program
from minigraph.ir.program import Program
from minigraph.ir.variable import Variable
from minigraph.types import shape_text

__all__ = ["DataFeeder"]


class DataFeeder:
    """Turns minibatches (lists of sample tuples) into feed dicts for `feed_list`, a list of
    data Variables or their names (looked up in `program`, default the main program).
    `place` is accepted for Paddle compatibility (minigraph runs on the CPU)."""

    def __init__(self, feed_list: Sequence[Any], place: Any = None, program: Program | None = None) -> None:
        if isinstance(feed_list, (str, Variable)) or not isinstance(feed_list, (list, tuple)) or not feed_list:
            raise ArgumentTypeError(
                f"DataFeeder: feed_list must be a non-empty list of Variables or names, got {feed_list!r}"
            )
        program = default_main_program() if program is None else program
        block = program.global_block()
        self.feed_vars: list[Variable] = []
        for item in feed_list:
            if isinstance(item, str):
                if not block.has_var(item):
                    raise FeedError(f"DataFeeder: the program has no variable named {item!r}")
                item = block.var(item)
            if not isinstance(item, Variable):
                raise ArgumentTypeError(
                    f"DataFeeder: feed_list items must be Variables or names, got {type(item).__name__}"
                )
            self.feed_vars.append(item)
        self.feed_names = [v.name for v in self.feed_vars]
        self.place = place

    def feed(self, iterable: Iterable[Any]) -> dict[str, np.ndarray]:
        """{variable name: batch array} for a minibatch: an iterable of samples, each a
        tuple/list with one field per feed variable."""
        columns: list[list[Any]] = [[] for _ in self.feed_vars]
        for i, sample in enumerate(iterable):
            fields = sample if isinstance(sample, (list, tuple)) else (sample,)
            if len(fields) != len(self.feed_vars):
                raise FeedError(
                    f"DataFeeder: sample {i} has {len(fields)} field(s) but feed_list has "
                    f"{len(self.feed_vars)} ({', '.join(self.feed_names)})"
                )
            for column, value in zip(columns, fields):
                column.append(value)
        if not columns[0]:
            raise FeedError("DataFeeder: the minibatch holds no samples")
        return {v.name: _to_array(v, column) for v, column in zip(self.feed_vars, columns)}

    def feed_parallel(self, iterable: Iterable[Any], num_places: int | None = None) -> list[dict[str, np.ndarray]]:
        """One feed dict per minibatch in `iterable` (fluid's multi-device form)."""
        return [self.feed(minibatch) for minibatch in iterable]

    def decorate_reader(
        self, reader: Any, multi_devices: bool = False, num_places: int | None = None, drop_last: bool = True
    ) -> Any:
        """A reader of feed dicts from a reader of minibatches."""

        def feeds() -> Any:
            for minibatch in reader():
                yield self.feed(minibatch)

        return feeds


def _to_array(var: Variable, column: list[Any]) -> np.ndarray:
    try:
        arr = np.array(column, dtype=var.dtype)
    except (ValueError, TypeError) as e:
        raise FeedError(f"DataFeeder: cannot make a {var.dtype} batch for {var.name!r}: {e}") from None
    shape = tuple(var.shape)
    if shape and arr.ndim != len(shape):
        target = tuple(-1 if d < 0 else d for d in shape)
        if target.count(-1) > 1:
            raise FeedError(
                f"DataFeeder: {var.name!r} {shape_text(shape)} has more than one unknown dim, so a batch "
                f"of shape {shape_text(arr.shape)} cannot be reshaped to it; give samples of its full rank"
            )
        try:
            arr = arr.reshape(target)
        except ValueError:
            raise FeedError(
                f"DataFeeder: {var.name!r} is defined with shape {shape_text(shape)}, but the batch has "
                f"shape {shape_text(arr.shape)}, which does not reshape to it"
            ) from None
    return arr
