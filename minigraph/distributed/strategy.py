"""DistributedStrategy: how distributed_optimizer rewrites a program (Paddle's fleet strategy)."""

from __future__ import annotations

from dataclasses import dataclass

from minigraph.errors import InvalidArgumentError


@dataclass(slots=True)  # slots: a misspelt option raises instead of being ignored
class DistributedStrategy:
    """Options of the data-parallel transpiler.

    * `sync_batch_norm`: every batch_norm of the program becomes sync_batch_norm (batch
      statistics of the global batch).
    * `fuse_grad_size_in_MB`: gradients are averaged in fused buckets of at most this size.
    * `overlap_grad_comm` (minigraph's): each bucket's allreduce runs while the backward
      pass continues, and is waited for just before its gradients are read; False waits
      at once (for measuring what the overlap hides).

        strategy = dist.DistributedStrategy()
        strategy.sync_batch_norm = True
    """

    sync_batch_norm: bool = False
    fuse_grad_size_in_MB: float = 32
    overlap_grad_comm: bool = True

    def bucket_bytes(self) -> int:
        size = self.fuse_grad_size_in_MB
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not size > 0:
            raise InvalidArgumentError(f"fuse_grad_size_in_MB must be a positive number, got {size!r}")
        return max(1, int(size * (1 << 20)))
