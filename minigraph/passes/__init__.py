"""Program transformations ("passes"). Each is a function over a Program whose docstring
states what it preserves, and whose result passes `Program.verify()`.

- `fold_batch_norm(program, scope, keep=())`: test-mode batch_norm folded into the conv/fc
  before it (minigraph.passes.fold).
- `BuildStrategy`, `apply_build_strategy(program, strategy, feeds, fetches)`: the passes
  the executor runs at compile time (minigraph.passes.strategy): `fold_batch_norm_ops`,
  `fuse_bn_act`, `fuse_elewise_add_act`, `fuse_conv_epilogue` (minigraph.passes.fuse),
  `fuse_bias_bn_act` (minigraph.passes.fuse_bias), `prune_dead_outputs`
  (minigraph.passes.dead).
- `prune(program, feed_names, target_names)`: only the ops the targets need
  (minigraph.passes.prune).
- `convert_sync_batch_norm(program)`, `insert_grad_allreduce(program, params_grads, ...)`,
  `broadcast_parameters(startup, names)`: the data-parallel rewrites that
  `minigraph.distributed.distributed_optimizer` applies (minigraph.passes.collective).
"""

from minigraph.passes.collective import broadcast_parameters, convert_sync_batch_norm, insert_grad_allreduce
from minigraph.passes.dead import pin_random_seeds, prune_dead_outputs
from minigraph.passes.fold import fold_batch_norm, fold_batch_norm_ops
from minigraph.passes.fuse import fuse_bn_act, fuse_conv_epilogue, fuse_elewise_add_act
from minigraph.passes.fuse_bias import fuse_bias_bn_act
from minigraph.passes.prune import PruneResult, prune
from minigraph.passes.strategy import BuildStrategy, apply_build_strategy

__all__ = [
    "BuildStrategy",
    "PruneResult",
    "apply_build_strategy",
    "fold_batch_norm_ops",
    "fuse_bias_bn_act",
    "fuse_bn_act",
    "fuse_conv_epilogue",
    "fuse_elewise_add_act",
    "pin_random_seeds",
    "prune_dead_outputs",
    "broadcast_parameters",
    "convert_sync_batch_norm",
    "fold_batch_norm",
    "insert_grad_allreduce",
    "prune",
]
