"""The data-parallel transpiler: the rewrites that make one program train on N processes.

Every process runs the same program on its own share of the batch. Three rewrites make
their results those of one process on the whole batch:

* `convert_sync_batch_norm(program)`: batch_norm (and batch_norm_grad) ops become
  sync_batch_norm ops, which normalise with the statistics of the global batch. Same slots
  and attributes, so only the op type changes.
* `insert_grad_allreduce(program, params_grads)`: after the backward pass every parameter
  gradient is averaged over the processes. Gradients are packed, in the order the backward
  pass produces them, into buckets of at most `bucket_bytes`; each bucket gets a
  `c_allreduce_start` right after the op that completes its last gradient, and a `c_wait`
  right before the first op that reads one of its gradients (the optimizer's, usually), so
  a bucket's communication overlaps the rest of the backward pass. The wait writes the
  averaged values back under the gradients' own names (in place, as Paddle's c_allreduce_sum
  does), so the ops after it are unchanged.
* `broadcast_parameters(startup, names)`: the startup program ends with a `c_broadcast`
  from rank 0 of every parameter, so the processes start from identical weights whatever
  their seeds.

Preserved: in a job of one process every inserted op is the identity and sync_batch_norm is
batch_norm, so the program computes exactly what it computed before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ir.operator import Operator, OpRole
from minigraph.ir.program import Program
from minigraph.ops.bucket import plan_buckets

__all__ = ["broadcast_parameters", "convert_sync_batch_norm", "insert_grad_allreduce"]

SYNC_TYPES = {"batch_norm": "sync_batch_norm", "batch_norm_grad": "sync_batch_norm_grad"}


def convert_sync_batch_norm(program: Program) -> int:
    """Turn every batch_norm and batch_norm_grad op of `program` into its sync_ twin;
    returns how many ops changed. Run it before or after the backward pass."""
    changed = 0
    for block in program.blocks:
        for op in block.ops:
            new = SYNC_TYPES.get(op.type)
            if new is not None:
                op.type = new
                changed += 1
    if changed:
        program._bump()
    return changed


def _nbytes(v: Any) -> int:
    # an unknown dimension (never the case for a parameter's gradient) counts as huge: own bucket
    if any(d < 0 for d in v.shape):
        return 1 << 62
    return int(np.prod(v.shape, dtype=np.int64)) * np.dtype(v.dtype).itemsize


def insert_grad_allreduce(
    program: Program,
    params_grads: Sequence[tuple[Any, Any]],
    bucket_bytes: int = 32 << 20,
    overlap: bool = True,
    reduce: str = "avg",
) -> list[tuple[Operator, Operator]]:
    """Average (reduce="avg"; or sum/max) every gradient of `params_grads` over the
    processes, in fused buckets (see the module docstring). With `overlap=False` each wait
    follows its start at once (blocking; for measuring what the overlap hides). Returns the
    (start, wait) op pairs, one per bucket."""
    block = program.global_block()
    grads = [g.name if hasattr(g, "name") else g for _, g in params_grads if g is not None]
    ops = list(block.ops)
    ready: dict[str, int] = {}
    for i, op in enumerate(ops):
        for name in op.output_arg_names:
            if name in grads:
                ready[name] = i
    missing = [g for g in grads if g not in ready]
    if missing:
        raise GraphBuildError(f"insert_grad_allreduce: no op computes {missing}; run the backward pass first")
    order = sorted(dict.fromkeys(grads), key=lambda n: ready[n])
    sizes = [(_nbytes(block.var(n)), block.var(n).dtype) for n in order]
    inserts: list[tuple[int, tuple[int, int], str, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    for k, bucket in enumerate(plan_buckets(sizes, bucket_bytes)):
        names = [order[i] for i in bucket]
        last = max(ready[n] for n in names)
        handle = block.create_var(
            program.names.generate("grad_bucket"), shape=(), dtype="int64", stop_gradient=True
        ).name
        wait_at = last + 1
        if overlap:
            wanted = set(names)
            readers = (j for j in range(last + 1, len(ops)) if wanted & set(ops[j].input_arg_names))
            wait_at = next(readers, len(ops))
        start_attrs = {"reduce": reduce}
        inserts.append((last + 1, (0, k), "c_allreduce_start", {"X": names}, {"Handle": handle}, start_attrs))
        inserts.append((wait_at, (1, k), "c_wait", {"Handle": handle}, {"Out": names}, {}))
    # Insert from the back so earlier positions stay valid; at one position, starts come
    # before waits and buckets keep their order.
    made: dict[tuple[int, int], Operator] = {}
    for pos, key, op_type, ins, outs, attrs in sorted(inserts, key=lambda t: (t[0], t[1]), reverse=True):
        made[key] = block._insert_op(pos, op_type, ins, outs, attrs, role=OpRole.BACKWARD)
    return [(made[(0, k)], made[(1, k)]) for k in range(len(inserts) // 2)]


def broadcast_parameters(startup: Program, names: Iterable[str], root: int = 0) -> list[Operator]:
    """Append to `startup` a c_broadcast from `root` of each named variable it initialises."""
    block = startup.global_block()
    return [
        block.append_op("c_broadcast", {"X": name}, {"Out": name}, {"root": root})
        for name in names
        if block.has_var(name)
    ]
