"""Eager mode runs the same registered kernels and grad makers: for every row of the op
tables, eager outputs and eager gradients equal the static ones."""

import numpy as np
import pytest

from minigraph.registry import get_op
from minigraph.testing import differentiable_slots, eager_run, run_op, static_gradients
from tests.cases import all_cases


def _deterministic(case):
    """Random ops without a fixed seed draw different numbers in each run."""
    return "seed" not in get_op(case.op).attrs or case.attrs.get("seed") or case.attrs.get("is_test")


CASES = [c for c in all_cases() if _deterministic(c)]
GRAD_CASES = [c for c in CASES if get_op(c.op).grad is not None and differentiable_slots(c)]


def _flat(value):
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_eager_forward_equals_static(case):
    static = run_op(case)
    eager, _ = eager_run(case)
    for slot, value in static.items():
        if case.outputs is not None and slot not in case.outputs:
            continue
        for s, e in zip(_flat(value), _flat(eager[slot])):
            np.testing.assert_array_equal(s, e, err_msg=f"{case.id}: {slot}")


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.id for c in GRAD_CASES])
def test_eager_gradients_equal_static(case):
    static = static_gradients(case, seed=3)
    _, eager = eager_run(case, grad_seed=3)
    assert len(static) == len(eager)
    for s, e in zip(static, eager):
        np.testing.assert_allclose(e, s, rtol=1e-12, atol=1e-14, err_msg=case.id)
