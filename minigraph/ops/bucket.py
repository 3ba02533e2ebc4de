"""Fused, non-blocking gradient allreduce: `c_allreduce_start` and `c_wait`.

Data parallelism reduces every gradient over the processes. One allreduce per gradient
pays MPI's per-call latency dozens of times a step, and a blocking one stalls the backward
pass; so gradients are packed into buckets (`plan_buckets`) and each bucket is reduced
with one non-blocking call:

    h_0 : int64[] = c_allreduce_start(X=[fc_0.w_0@GRAD, fc_0.b_0@GRAD]) {reduce=avg}
    ...                                       the rest of the backward pass runs meanwhile
    fc_0.w_0@GRAD, fc_0.b_0@GRAD = c_wait(Handle=h_0)

`c_allreduce_start` copies its inputs into one contiguous buffer, starts MPI's Iallreduce
on it and returns a handle: an int64 naming the pending operation, held in this module
(like a file descriptor). `c_wait` waits for it and returns the reduced gradients as views
of the buffer, scaled by 1/world size for `reduce="avg"`. The handle makes the dependency
explicit in the program, so passes and the executor see an ordinary data flow.

MPI only moves a non-blocking collective forward inside MPI calls (MPICH has no progress
thread by default), so every start also tests the buckets still in flight: they advance
each time the backward pass reaches another bucket or a blocking collective
(sync_batch_norm's), and complete in `c_wait` at the latest.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigraph.errors import ExecutionError, GraphBuildError, OpTypeError
from minigraph.ops import comm
from minigraph.registry import OpDef, register

REDUCTIONS = ("sum", "avg", "max")
NO_GRAD = "communicates gradients after the backward pass; not itself differentiated"


@dataclass
class _Pending:
    request: comm.Request
    buffer: np.ndarray
    shapes: list[tuple[int, ...]]
    reduce: str
    arrays: list[np.ndarray] | None  # a job of one process skips the copy: the inputs are the result


_pending: dict[int, _Pending] = {}
_handles = itertools.count(1)


def plan_buckets(sizes: Sequence[tuple[int, str]], limit_bytes: int) -> list[list[int]]:
    """Group items `(nbytes, dtype)`, in the given (readiness) order, into buckets of one
    dtype holding at most `limit_bytes` each (an item larger than the limit gets a bucket of
    its own). Returns lists of item indices."""
    buckets: list[list[int]] = []
    open_by_dtype: dict[str, tuple[list[int], int]] = {}
    for i, (nbytes, dtype) in enumerate(sizes):
        current = open_by_dtype.get(dtype)
        if current is None or (current[1] + nbytes > limit_bytes and current[0]):
            bucket: list[int] = []
            buckets.append(bucket)
            current = (bucket, 0)
        current[0].append(i)
        open_by_dtype[dtype] = (current[0], current[1] + nbytes)
    return buckets


def start(arrays: Sequence[np.ndarray], reduce: str = "avg") -> int:
    """Start reducing `arrays` (one dtype) over the processes; returns the handle for `finish`."""
    world = comm.world()
    for p in list(_pending.values()):
        p.request.test()  # progress the buckets already in flight (see the module docstring)
    if world.size == 1:
        pending = _Pending(comm.Request(), np.empty(0), [], reduce, list(arrays))
    else:
        dtype = arrays[0].dtype
        buf = np.empty(sum(a.size for a in arrays), dtype)
        offset = 0
        for a in arrays:
            buf[offset : offset + a.size] = a.reshape(-1)
            offset += a.size
        request = world.iallreduce(buf, "max" if reduce == "max" else "sum")
        pending = _Pending(request, buf, [a.shape for a in arrays], reduce, None)
        comm.stats.bytes_reduced += buf.nbytes
    comm.stats.buckets += 1
    handle = next(_handles)
    _pending[handle] = pending
    return handle


def finish(handle: int) -> list[np.ndarray]:
    """Wait for the reduction started as `handle`; the reduced arrays, in `start`'s order."""
    pending = _pending.pop(int(handle), None)
    if pending is None:
        raise ExecutionError(f"no allreduce is in flight under handle {int(handle)} (each handle is waited for once)")
    if pending.arrays is not None:
        return pending.arrays
    t0 = time.perf_counter()
    pending.request.wait()
    comm.stats.wait_seconds += time.perf_counter() - t0
    buf = pending.buffer
    if pending.reduce == "avg":
        np.multiply(buf, buf.dtype.type(1.0 / comm.world().size), out=buf)
    out, offset = [], 0
    for shape in pending.shapes:
        n = int(np.prod(shape, dtype=np.int64))
        out.append(buf[offset : offset + n].reshape(shape))
        offset += n
    return out


def allreduce_arrays(
    arrays: Sequence[np.ndarray], reduce: str = "avg", limit_bytes: int = 32 << 20
) -> list[np.ndarray]:
    """Reduce `arrays` over the processes in fused buckets (all started, then all waited
    for); eager data parallelism averages its gradients with this."""
    buckets = plan_buckets([(a.nbytes, a.dtype.str) for a in arrays], limit_bytes)
    handles = [start([arrays[i] for i in bucket], reduce) for bucket in buckets]
    out: list[np.ndarray] = [np.empty(0)] * len(arrays)
    for bucket, handle in zip(buckets, handles):
        for i, value in zip(bucket, finish(handle)):
            out[i] = value
    return out


# --- the ops ---------------------------------------------------------------------------------


def _start_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    xs = ins["X"]
    if attrs["reduce"] not in REDUCTIONS:
        raise GraphBuildError(f"op c_allreduce_start: reduce={attrs['reduce']!r} is not one of {REDUCTIONS}")
    if not xs:
        raise GraphBuildError("op c_allreduce_start: X must list at least one variable")
    dtypes = {x.dtype for x in xs}
    if len(dtypes) > 1:
        raise OpTypeError(f"op c_allreduce_start: one bucket holds one dtype, got {sorted(dtypes)}")
    return {"Handle": ((), "int64")}


def _start_kernel(attrs: dict[str, Any], xs: list[np.ndarray]) -> tuple[np.ndarray]:
    return (np.array(start(xs, attrs["reduce"]), dtype=np.int64),)


def _wait_kernel(attrs: dict[str, Any], handle: np.ndarray) -> tuple[list[np.ndarray]]:
    return (finish(int(handle)),)


register(
    OpDef(
        "c_allreduce_start",
        ("X*",),
        ("Handle",),
        _start_kernel,
        _start_infer,
        attrs={"ring_id": 0, "reduce": "avg"},
        no_grad=NO_GRAD,
    )
)
# Out keeps the shapes its variables were declared with (the gradients the bucket started from).
register(OpDef("c_wait", ("Handle",), ("Out*",), _wait_kernel, lambda ins, attrs: {}, attrs={}, no_grad=NO_GRAD))
