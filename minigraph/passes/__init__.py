"""Program transformations ("passes"). Each is a function over a Program whose docstring
states what it preserves, and whose result passes `Program.verify()`.

- `fold_batch_norm(program, scope, keep=())`: test-mode batch_norm folded into the conv/fc
  before it (minigraph.passes.fold).
- `prune(program, feed_names, target_names)`: only the ops the targets need
  (minigraph.passes.prune).
"""

from minigraph.passes.fold import fold_batch_norm
from minigraph.passes.prune import PruneResult, prune

__all__ = ["PruneResult", "fold_batch_norm", "prune"]
