"""Data-parallel training over MPI (extra `minigraph[distributed]`: mpi4py and mpich).

Every process runs the same program on its share of each batch; collective ops average
the gradients (and, with sync_batch_norm, the batch statistics), so N processes train the
model one process would train on the whole batch. Launch with
`mpiexec -n N python train.py` or `python -m minigraph.distributed.launch --nproc N train.py`;
started any other way a script is a job of one process and needs no MPI.

    import minigraph.distributed as dist
    dist.init_parallel_env()
    strategy = dist.DistributedStrategy()
    strategy.sync_batch_norm = True
    opt = dist.distributed_optimizer(mg.optimizer.Momentum(0.1, momentum=0.9), strategy)
    opt.minimize(loss)                 # backward, averaged allreduce, update
    exe.run(startup)                   # parameters broadcast from rank 0

See docs/distributed.md for the design (which ops go where, the bucket overlap) and a cost model.
"""

from minigraph.distributed import fleet
from minigraph.distributed.checkpoint import load_persistables, save_persistables
from minigraph.distributed.env import ParallelEnv, barrier, get_rank, get_world_size, init_parallel_env
from minigraph.distributed.optimizer import DistributedOptimizer, distributed_optimizer
from minigraph.distributed.parallel import DataParallel
from minigraph.distributed.sampler import DistributedBatchSampler
from minigraph.distributed.strategy import DistributedStrategy
from minigraph.ops.comm import stats as comm_stats

__all__ = [
    "DataParallel",
    "DistributedBatchSampler",
    "DistributedOptimizer",
    "DistributedStrategy",
    "ParallelEnv",
    "barrier",
    "comm_stats",
    "distributed_optimizer",
    "fleet",
    "get_rank",
    "get_world_size",
    "init_parallel_env",
    "load_persistables",
    "save_persistables",
]
