"""Op test tables, one module per op family. Each module defines

    CASES: list[OpCase]                   rows checked forward (vs `ref`) and gradient (float64)
    COVERED_ELSEWHERE: dict[str, str]     op type -> the test that covers it instead (optional)

Adding an op means adding rows here; tests/test_op_registry.py fails for an op without any.
"""

from __future__ import annotations

import importlib
import pkgutil

from minigraph.testing import OpCase


def _modules() -> list[object]:
    return [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]


def all_cases() -> list[OpCase]:
    return [c for m in _modules() for c in getattr(m, "CASES", [])]


def covered_elsewhere() -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _modules():
        out.update(getattr(m, "COVERED_ELSEWHERE", {}))
    return out
