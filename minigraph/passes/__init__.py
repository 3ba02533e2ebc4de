"""Program transformations ("passes"). Each is a function over a Program whose docstring
states what it preserves, and whose result passes `Program.verify()`.

- `fold_batch_norm(program, scope, keep=())`: test-mode batch_norm folded into the conv/fc
  before it (minigraph.passes.fold).
- `prune(program, feed_names, target_names)`: only the ops the targets need
  (minigraph.passes.prune).
- `convert_sync_batch_norm(program)`, `insert_grad_allreduce(program, params_grads, ...)`,
  `broadcast_parameters(startup, names)`: the data-parallel rewrites that
  `minigraph.distributed.distributed_optimizer` applies (minigraph.passes.collective).
"""

from minigraph.passes.collective import broadcast_parameters, convert_sync_batch_norm, insert_grad_allreduce
from minigraph.passes.fold import fold_batch_norm
from minigraph.passes.prune import PruneResult, prune

__all__ = [
    "PruneResult",
    "broadcast_parameters",
    "convert_sync_batch_norm",
    "fold_batch_norm",
    "insert_grad_allreduce",
    "prune",
]
