"""Cases for minigraph/ops/collective.py and minigraph/ops/sync_norm.py, in one process.

In a job of one process every collective is the identity, and sync_batch_norm computes what
batch_norm computes: these rows pin that (forward, gradient through the paired adjoint ops,
eager = static). What the ops do across processes is checked under `mpiexec -n 2` by
tests/test_distributed_mpi.py.
"""

import dataclasses

import numpy as np

from minigraph.testing import OpCase
from tests.cases.norm import CASES as BN_CASES

rng = np.random.default_rng(14)
x23 = rng.normal(size=(2, 3))
x4 = rng.normal(size=(4, 2, 2))
counts = np.array([[3, 1], [0, 7]], dtype=np.int64)


def _same(i, a):
    return {"Out": i["X"]}


CASES = []
for op in ("c_allreduce_sum", "c_allreduce_avg", "c_allreduce_max", "c_broadcast", "c_reduce_sum"):
    CASES.append(OpCase(op, {"X": x23}, ref=_same, name="one_process"))
CASES += [
    OpCase("c_allreduce_sum", {"X": counts}, ref=_same, name="int64"),
    OpCase("c_allreduce_max", {"X": counts}, ref=_same, name="int64"),
    OpCase("c_allreduce_sum", {"X": np.array(2.5)}, ref=_same, name="scalar"),
    OpCase("c_broadcast", {"X": x4}, {"root": 0}, ref=_same, name="root0_rank3"),
    OpCase("c_allgather", {"X": x4}, {"nranks": 1}, ref=_same, name="one_process"),
    OpCase("c_reducescatter", {"X": x4}, {"nranks": 1}, ref=_same, name="one_process"),
]

# Every batch_norm row again as sync_batch_norm: in one process the two are the same op.
CASES += [dataclasses.replace(c, op="sync_batch_norm") for c in BN_CASES]

COVERED_ELSEWHERE = {
    "c_allreduce_start": "tests/test_distributed.py::test_bucket_ops_in_one_process and "
    "tests/test_distributed_mpi.py (fused buckets over 2 processes)",
    "c_wait": "tests/test_distributed.py::test_bucket_ops_in_one_process and tests/test_distributed_mpi.py",
}
