"""Every row of the op tables: forward against its numpy reference (float64 and float32),
and the gradient against float64 central differences. Rows of ops with a compiled kernel
(minigraph/ops/backend.py) run under each kernel backend: the numpy kernels, and numba's
when it is installed (those rows are skipped, with the reason, when it is not)."""

import importlib.util

import numpy as np
import pytest

from minigraph.ops import backend
from minigraph.registry import get_op
from minigraph.testing import check_forward, check_grad, differentiable_slots
from tests.cases import all_cases

CASES = all_cases()

# ops whose kernels have a numba path
COMPILED_OPS = (
    "batch_norm",
    "fused_batch_norm_act",
    "fused_bias_batch_norm_act",
    "pool2d",
    "conv2d",
    "fused_conv2d_add_act",
    "sgd",
    "softmax_with_cross_entropy",
)
NO_NUMBA = pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="numba is not installed (pip install -e '.[fast]')"
)


def under_backends(cases):
    """(case, backend) rows: every case on numpy, and again on numba for COMPILED_OPS."""
    rows = []
    for c in cases:
        rows.append(pytest.param(c, "numpy", id=c.id))
        if c.op in COMPILED_OPS:
            rows.append(pytest.param(c, "numba", id=f"{c.id}-numba", marks=NO_NUMBA))
    return rows


@pytest.mark.parametrize(("case", "kernels"), under_backends(CASES))
def test_forward(case, kernels):
    with backend.forced(kernels):
        check_forward(case)


def _narrowable(case):
    return case.ref is not None and any(
        np.asarray(v).dtype == np.float64 for v in case.inputs.values() if not isinstance(v, list)
    )


F32_CASES = [c for c in CASES if _narrowable(c)]


@pytest.mark.parametrize(("case", "kernels"), under_backends(F32_CASES))
def test_forward_float32(case, kernels):
    loose = {"rtol": max(case.rtol, 1e-4), "atol": max(case.atol, 1e-5)}
    narrowed = type(case)(**{**case.__dict__, **loose})
    with backend.forced(kernels):
        check_forward(narrowed, dtype="float32")


GRAD_CASES = [c for c in CASES if get_op(c.op).grad is not None and differentiable_slots(c)]


@pytest.mark.parametrize(("case", "kernels"), under_backends(GRAD_CASES))
def test_gradient(case, kernels):
    with backend.forced(kernels):
        check_grad(case)
