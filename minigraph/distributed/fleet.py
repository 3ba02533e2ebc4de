"""Paddle's `fleet` entry points for collective (data-parallel) training.

from minigraph.distributed import fleet
fleet.init(is_collective=True)
opt = fleet.distributed_optimizer(mg.optimizer.Momentum(0.1, momentum=0.9), strategy)
"""

from __future__ import annotations

from typing import Any

from minigraph.distributed.env import barrier, get_rank, get_world_size, init_parallel_env
from minigraph.distributed.optimizer import DistributedOptimizer
from minigraph.distributed.optimizer import distributed_optimizer as _wrap
from minigraph.distributed.strategy import DistributedStrategy
from minigraph.errors import MinigraphError
from minigraph.optimizer.base import Optimizer

__all__ = ["DistributedStrategy", "distributed_optimizer", "init", "is_first_worker", "worker_index", "worker_num"]

_strategy: list[DistributedStrategy | None] = [None]
_initialized: list[bool] = [False]


def init(role_maker: Any = None, is_collective: bool = False, strategy: DistributedStrategy | None = None) -> None:
    """Start collective training (`is_collective=True`; parameter servers are not supported).
    `strategy` becomes the default of `distributed_optimizer`."""
    if not is_collective:
        raise MinigraphError("minigraph supports collective training only: fleet.init(is_collective=True)")
    init_parallel_env()
    _strategy[0] = strategy
    _initialized[0] = True


def distributed_optimizer(optimizer: Optimizer, strategy: DistributedStrategy | None = None) -> DistributedOptimizer:
    """minigraph.distributed.distributed_optimizer, after `fleet.init(is_collective=True)`."""
    if not _initialized[0]:
        raise MinigraphError("call fleet.init(is_collective=True) before fleet.distributed_optimizer")
    return _wrap(optimizer, strategy or _strategy[0])


def worker_index() -> int:
    return get_rank()


def worker_num() -> int:
    return get_world_size()


def is_first_worker() -> bool:
    return get_rank() == 0


def barrier_worker() -> None:
    barrier()
