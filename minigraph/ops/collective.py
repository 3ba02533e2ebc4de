"""Collective ops, Paddle's `c_*` family: every process of the job runs the same op on its
own value and gets a combination of all of them.

    c_allreduce_sum / _avg / _max   Out = sum / mean / max of X over the processes
    c_broadcast                     Out = X of process `root`
    c_reduce_sum                    Out = sum of X on process `root_id`, zeros elsewhere
    c_allgather                     Out = the processes' X concatenated on axis 0, rank order
    c_reducescatter                 Out = this process's block (axis 0) of the sum of X

Gradients pair them up as their adjoints: the sum's gradient is a sum of the output
gradients (the job's loss is the sum of the processes' losses), broadcast and reduce are
each other's gradient, and so are allgather and reducescatter. The maximum has no gradient.

`ring_id` is Paddle's communicator id; minigraph has one communicator (all processes), ring 0.
Kernels never write their inputs: they reduce a copy in place. In a job of one process every
op here is the identity (c_reduce_sum too: process 0 is the root).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minigraph.errors import ExecutionError, GraphBuildError, OpTypeError
from minigraph.ops import comm
from minigraph.ops.common import same_as
from minigraph.registry import GradContext, OpDef, register
from minigraph.types import FLOAT_DTYPES, shape_text

NO_MAX_GRAD = (
    "a maximum over processes has no gradient where processes tie (Paddle defines none either); "
    "for a differentiable maximum, c_allgather then reduce_max"
)


def _check_ring(attrs: dict[str, Any], op: str) -> None:
    if attrs["ring_id"] != 0:
        raise GraphBuildError(f"op {op}: ring_id={attrs['ring_id']}, but minigraph has one communicator (ring 0)")


def _copy(x: np.ndarray) -> np.ndarray:
    """A C-contiguous copy: MPI works in place on contiguous buffers, and inputs stay untouched."""
    return np.array(x, order="C", copy=True)


# --- allreduce ------------------------------------------------------------------------------


def _allreduce_infer(op: str) -> Any:
    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        _check_ring(attrs, op)
        if op == "c_allreduce_avg" and ins["X"].dtype not in FLOAT_DTYPES:
            raise OpTypeError(f"op {op}: X {ins['X'].name!r} must be a float tensor to average, got {ins['X'].dtype}")
        return same_as("X")(ins, attrs)

    return infer


def _allreduce_kernel(reduce: str, average: bool) -> Any:
    def kernel(attrs: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
        world = comm.world()
        if world.size == 1:
            return (x,)  # the reduction over one process; returning the input is safe (never written)
        out = _copy(x)
        comm.timed_allreduce(out, reduce)
        if average:
            np.multiply(out, out.dtype.type(1.0 / world.size), out=out)
        return (out,)

    return kernel


def _same_op_grad(op_type: str) -> Callable[[GradContext], None]:
    def grad(g: GradContext) -> None:
        g.emit(op_type, attrs={"ring_id": g.attr("ring_id")}, X=g.out_grad("Out"), Out=g.in_grad("X"))

    return grad


for _type, _reduce, _avg in (
    ("c_allreduce_sum", "sum", False),
    ("c_allreduce_avg", "sum", True),
    ("c_allreduce_max", "max", False),
):
    register(
        OpDef(
            _type,
            ("X",),
            ("Out",),
            _allreduce_kernel(_reduce, _avg),
            _allreduce_infer(_type),
            attrs={"ring_id": 0},
            grad=None if _reduce == "max" else _same_op_grad(_type),
            no_grad=NO_MAX_GRAD if _reduce == "max" else None,
        )
    )


# --- broadcast and reduce to one process ------------------------------------------------------


def _rooted_infer(op: str, root_attr: str) -> Any:
    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        _check_ring(attrs, op)
        if attrs[root_attr] < 0:
            raise GraphBuildError(f"op {op}: {root_attr}={attrs[root_attr]} must be a rank (>= 0)")
        return same_as("X")(ins, attrs)

    return infer


def _check_root(op: str, root: int, world: Any) -> None:
    if root >= world.size:
        raise ExecutionError(f"op {op}: root {root} is not a rank of this job of {world.size} process(es)")


def _broadcast_kernel(attrs: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
    world = comm.world()
    _check_root("c_broadcast", attrs["root"], world)
    if world.size == 1:
        return (x,)
    out = _copy(x)
    comm.timed(world.bcast, out, attrs["root"])
    return (out,)


def _reduce_sum_kernel(attrs: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
    world = comm.world()
    root = attrs["root_id"]
    _check_root("c_reduce_sum", root, world)
    if world.size == 1:
        return (x,)
    out = _copy(x)
    comm.timed(world.reduce, out, root, "sum")
    if world.rank != root:
        # NOTE: MPI leaves a non-root buffer unspecified; zeros make this op the exact
        # adjoint of c_broadcast (only the root's input reaches the other processes).
        out[...] = 0
    return (out,)


def _register_rooted(op: str, kernel: Callable[..., Any], root: str, adjoint: str, adjoint_root: str) -> None:
    """A collective with a root rank whose gradient is its adjoint collective rooted there."""

    def grad(g: GradContext) -> None:
        attrs = {"ring_id": g.attr("ring_id"), adjoint_root: g.attr(root)}
        g.emit(adjoint, attrs=attrs, X=g.out_grad("Out"), Out=g.in_grad("X"))

    register(OpDef(op, ("X",), ("Out",), kernel, _rooted_infer(op, root), attrs={"ring_id": 0, root: 0}, grad=grad))


_register_rooted("c_broadcast", _broadcast_kernel, "root", "c_reduce_sum", "root_id")
_register_rooted("c_reduce_sum", _reduce_sum_kernel, "root_id", "c_broadcast", "root")


# --- allgather and reducescatter (axis 0) ---------------------------------------------------


def _gather_infer(op: str, grow: bool) -> Any:
    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        _check_ring(attrs, op)
        x, n = ins["X"], attrs["nranks"]
        if n < 1:
            raise GraphBuildError(f"op {op}: nranks={n} must be at least 1")
        if not x.shape:
            raise GraphBuildError(f"op {op}: X {x.name!r} must have an axis 0 to gather or scatter along")
        first = x.shape[0]
        if first >= 0 and not grow and first % n:
            raise GraphBuildError(
                f"op {op}: axis 0 of X {x.name!r} {shape_text(x.shape)} does not split into nranks={n} blocks"
            )
        if first >= 0:
            first = first * n if grow else first // n
        return {"Out": ((first,) + tuple(x.shape[1:]), x.dtype)}

    return infer


def _check_nranks(op: str, attrs: dict[str, Any], world: Any) -> None:
    if attrs["nranks"] != world.size:
        raise ExecutionError(
            f"op {op} was built for nranks={attrs['nranks']}, but this job has {world.size} process(es)"
        )


def _allgather_kernel(attrs: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
    world = comm.world()
    _check_nranks("c_allgather", attrs, world)
    if world.size == 1:
        return (x,)
    out = np.empty((world.size * x.shape[0],) + x.shape[1:], x.dtype)
    comm.timed(world.allgather, np.ascontiguousarray(x), out)
    return (out,)


def _reducescatter_kernel(attrs: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
    world = comm.world()
    _check_nranks("c_reducescatter", attrs, world)
    if world.size == 1:
        return (x,)
    if x.shape[0] % world.size:
        raise ExecutionError(f"op c_reducescatter: axis 0 of X {shape_text(x.shape)} does not split into {world.size}")
    out = np.empty((x.shape[0] // world.size,) + x.shape[1:], x.dtype)
    comm.timed(world.reduce_scatter, np.ascontiguousarray(x), out, "sum")
    return (out,)


def _paired(op_type: str) -> Callable[[GradContext], None]:
    def grad(g: GradContext) -> None:
        attrs = {"ring_id": g.attr("ring_id"), "nranks": g.attr("nranks")}
        g.emit(op_type, attrs=attrs, X=g.out_grad("Out"), Out=g.in_grad("X"))

    return grad


# Gathering and reduce-scattering along axis 0 are each other's adjoints.
for _op, _kernel, _grows, _adjoint in (
    ("c_allgather", _allgather_kernel, True, "c_reducescatter"),
    ("c_reducescatter", _reducescatter_kernel, False, "c_allgather"),
):
    register(
        OpDef(
            _op,
            ("X",),
            ("Out",),
            _kernel,
            _gather_infer(_op, grow=_grows),
            attrs={"ring_id": 0, "nranks": 1},
            grad=_paired(_adjoint),
        )
    )
