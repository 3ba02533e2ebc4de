"""Every inference-relevant row of the op tables (tests/cases), exported as a one-op program
and run by onnxruntime, gives minigraph's output within 1e-5 (relative to the output's
largest magnitude). Inputs are fed as data, weights (conv2d's Filter, fc's `mul` Y,
batch_norm's Scale/Bias/Mean/Variance) are initializers. Rows run in float32: float64 rows
are cast, because onnxruntime's CPU kernels for Conv, pooling and several others are
float32-only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from minigraph.executor import Executor, Scope
from minigraph.onnx import export, supported_ops
from minigraph.onnx.export import AUXILIARY_OUTPUTS
from minigraph.testing import OpCase, _OpProgram  # the op kit's one-op program builder
from tests.cases import all_cases
from tests.onnx_support import assert_close, require_onnx, run

require_onnx()

PARAMETERS = {"conv2d": ("Filter",), "mul": ("Y",), "batch_norm": ("Scale", "Bias", "Mean", "Variance")}
TRAINING_ONLY = ("batch_norm", "dropout")  # rows with is_test=False are training ops, refused by design


def exportable(case: OpCase) -> bool:
    if case.op not in supported_ops():
        return False
    return case.op not in TRAINING_ONLY or bool(case.attrs.get("is_test", False))


ROWS = [c for c in all_cases() if exportable(c)]


def one_op_program(case: OpCase) -> tuple[_OpProgram, Scope, dict[str, np.ndarray], list[str]]:
    params = tuple(dict.fromkeys((*case.persistable, *PARAMETERS.get(case.op, ()))))
    prog = _OpProgram(dataclasses.replace(case, persistable=params), "float32")
    scope, feeds = Scope(), {}
    for name, arr in prog.feeds.items():
        if prog.main.global_block().var(name).persistable:
            scope.var(name).set(arr)
        else:
            feeds[name] = arr
    fetch = [v.name for slot, vs in prog.out_vars.items() if slot not in AUXILIARY_OUTPUTS for v in vs]
    return prog, scope, feeds, fetch


def test_rows_cover_every_mapped_op():
    assert {c.op for c in ROWS} == set(supported_ops())
    assert len(ROWS) >= 140


@pytest.mark.parametrize(
    "case", ROWS, ids=lambda c: c.id + (f"-{c.attrs.get('data_layout', '')}" if c.op == "batch_norm" else "")
)
def test_op_row_matches_onnxruntime(case, tmp_path):
    prog, scope, feeds, fetch = one_op_program(case)
    want = Executor().run(prog.main, feed=feeds, fetch_list=fetch, scope=scope)
    path = export(prog.main, tmp_path / "op.onnx", feed=list(feeds), fetch=fetch, scope=scope)
    got = run(path, feeds)
    for name, g, w in zip(fetch, got, want):
        assert_close(g, w, f"{case.id} {name}")
