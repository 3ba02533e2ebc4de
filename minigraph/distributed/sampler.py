"""DistributedBatchSampler: each process's share of every epoch, as numpy index arrays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from minigraph.distributed.env import init_parallel_env
from minigraph.errors import InvalidArgumentError


class DistributedBatchSampler:
    """Splits an epoch of `n` samples (or `len(dataset)`) among the processes.

    Each step takes the next `batch_size * world_size` samples of the epoch's order (the
    identity, or a permutation seeded by `seed + epoch`: the same on every process) and
    gives rank r the r-th consecutive block of `batch_size`. So the ranks' batches of one
    step are disjoint, and concatenated in rank order they are the batch one process with
    `batch_size * world_size` would take. Every rank takes the same number of steps (a
    collective needs every process): a last, partial step is dropped with `drop_last`,
    else split as evenly as possible (sizes differ by at most one); leftover samples fewer
    than the processes are dropped, since some rank would get an empty batch.

        sampler = dist.DistributedBatchSampler(len(x), batch_size=16, shuffle=True)
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            for idx in sampler:
                exe.run(main, feed={"x": x[idx], "label": y[idx]}, fetch_list=[loss])
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        n = dataset if isinstance(dataset, (int, np.integer)) else len(dataset)
        if isinstance(n, bool) or int(n) < 0:
            raise InvalidArgumentError(f"DistributedBatchSampler: the number of samples must be >= 0, got {dataset!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InvalidArgumentError(
                f"DistributedBatchSampler: batch_size must be a positive int, got {batch_size!r}"
            )
        if num_replicas is None or rank is None:
            env = init_parallel_env()
            num_replicas = env.world_size if num_replicas is None else num_replicas
            rank = env.rank if rank is None else rank
        self.nranks = int(num_replicas)
        self.local_rank = int(rank)
        if not 0 <= self.local_rank < self.nranks:
            raise InvalidArgumentError(
                f"DistributedBatchSampler: rank {self.local_rank} is not in 0..{self.nranks - 1}"
            )
        self.n_samples = int(n)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use epoch `epoch`'s order (shuffled deterministically from `seed + epoch`)."""
        self.epoch = int(epoch)

    def _order(self) -> np.ndarray:
        if self.shuffle:
            return np.random.default_rng(self.seed + self.epoch).permutation(self.n_samples)
        return np.arange(self.n_samples)

    def _steps(self) -> tuple[int, int]:
        """(full steps, samples in the partial last step that is kept, or 0)."""
        step = self.batch_size * self.nranks
        full, rest = divmod(self.n_samples, step)
        keep = 0 if self.drop_last or rest < self.nranks else rest
        return full, keep

    def __iter__(self) -> Iterator[np.ndarray]:
        order = self._order()
        full, keep = self._steps()
        step, r, b = self.batch_size * self.nranks, self.local_rank, self.batch_size
        for k in range(full):
            yield order[k * step + r * b : k * step + (r + 1) * b]
        if keep:
            yield np.array_split(order[full * step : full * step + keep], self.nranks)[r]

    def __len__(self) -> int:
        full, keep = self._steps()
        return full + (1 if keep else 0)
