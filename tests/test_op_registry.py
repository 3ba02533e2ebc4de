"""The registry is complete: every op has a test case or a named test that covers it,
and every op made a gradient decision."""

from minigraph.ops.common import NO_SECOND_ORDER
from minigraph.registry import all_ops
from tests.cases import all_cases, covered_elsewhere


def test_every_op_has_a_case():
    cased = {c.op for c in all_cases()}
    elsewhere = covered_elsewhere()
    missing = []
    for name, opdef in all_ops().items():
        if name in cased or name in elsewhere:
            continue
        if opdef.no_grad == NO_SECOND_ORDER and name.endswith("_grad"):
            # grad ops are exercised by the gradient check of their forward op
            if name[: -len("_grad")] in cased:
                continue
        missing.append(name)
    assert not missing, f"ops without a test case: {sorted(missing)}"


def test_every_op_decides_about_gradients():
    for name, opdef in all_ops().items():
        assert (opdef.grad is None) != (opdef.no_grad is None), name


def test_grad_ops_do_not_claim_gradients():
    for name, opdef in all_ops().items():
        if name.endswith("_grad"):
            assert opdef.no_grad, f"{name} is a gradient op and should say why it has no gradient"
