"""Every row of the op tables: forward against its numpy reference (float64 and float32),
and the gradient against float64 central differences."""

import numpy as np
import pytest

from minigraph.registry import get_op
from minigraph.testing import check_forward, check_grad, differentiable_slots
from tests.cases import all_cases

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_forward(case):
    check_forward(case)


def _narrowable(case):
    return case.ref is not None and any(
        np.asarray(v).dtype == np.float64 for v in case.inputs.values() if not isinstance(v, list)
    )


F32_CASES = [c for c in CASES if _narrowable(c)]


@pytest.mark.parametrize("case", F32_CASES, ids=[c.id for c in F32_CASES])
def test_forward_float32(case):
    loose = {"rtol": max(case.rtol, 1e-4), "atol": max(case.atol, 1e-5)}
    narrowed = type(case)(**{**case.__dict__, **loose})
    check_forward(narrowed, dtype="float32")


GRAD_CASES = [c for c in CASES if get_op(c.op).grad is not None and differentiable_slots(c)]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.id for c in GRAD_CASES])
def test_gradient(case):
    check_grad(case)
