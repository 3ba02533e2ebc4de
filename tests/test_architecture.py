"""The package's layering, checked from the source: no import cycle between packages, no
module past 400 lines, and no code above the op registry asking which mode it runs in."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "minigraph"

# Lower layers never import higher ones. A top-level module or package of minigraph is a unit.
LAYERS = [
    {"errors", "types", "registry"},
    {"ir"},
    {"ops"},
    {"backward", "passes"},
    {"executor"},
    {"initializer", "param_attr", "regularizer", "clip", "unique_name", "core", "reader", "data_feeder"},
    {"layers", "nn", "optimizer", "nets"},
    {"dygraph"},
    {"jit", "io", "viz", "testing", "distributed", "onnx"},
    {"cli", "__init__"},
]
RANK = {unit: i for i, units in enumerate(LAYERS) for unit in units}

# Mode sniffing: what code above ops/ used to ask instead of going through the builder.
SNIFFING = [
    r"hasattr\([^)]*,\s*[\"'](all_parameters|numpy|set_value|value|do_model_average|_grad)[\"']\)",
    r"isinstance\((main|self\._main|loss|p), *\(?(Program|Tracer)",
    r"\bTRACING\b",
    r"\bcurrent_tracer\b",
    r"\bEager(Variable|Parameter)\b",
    r"\bTracer\b",
]
ABOVE_OPS = [
    "layers",
    "nn",
    "optimizer",
    "initializer",
    "param_attr",
    "regularizer",
    "clip",
    "jit",
    "io",
    "viz",
    "cli",
    "distributed",
    "onnx",
]


def _unit(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported minigraph unit, line, inside a function) for each import of minigraph."""
    tree = ast.parse(path.read_text(), str(path))
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names = [child.module + "." + a.name for a in child.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "minigraph" and len(parts) > 1:
                    found.append((parts[1], child.lineno, inner))
            visit(child, inner)

    visit(tree, False)
    return found


def _type_checking_lines(path: Path) -> set[int]:
    """Lines inside `if TYPE_CHECKING:` blocks (annotations only; never executed)."""
    tree = ast.parse(path.read_text())
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _modules():
        skip = _type_checking_lines(path)
        unit = _unit(path)
        for target, line, _ in _imports(path):
            if line not in skip and target != unit:
                graph.setdefault(unit, set()).add(target)
    return graph


def test_every_unit_has_a_layer() -> None:
    units = {_unit(p) for p in _modules()}
    assert units <= set(RANK), f"place these in LAYERS: {sorted(units - set(RANK))}"


def test_no_import_cycle_between_packages() -> None:
    graph = _edges()
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(u: str) -> None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                cycle = stack[stack.index(v) :] + [v]
                pytest.fail("import cycle between packages: " + " -> ".join(cycle))
            if v not in state:
                dfs(v)
        stack.pop()
        state[u] = 2

    for unit in sorted(graph):
        if unit not in state:
            dfs(unit)


def test_lower_layers_never_import_higher_ones() -> None:
    bad = [
        f"{path.relative_to(ROOT.parent)}:{line} imports minigraph.{target}"
        for path in _modules()
        for target, line, _ in _imports(path)
        if line not in _type_checking_lines(path) and RANK.get(target, 0) > RANK[_unit(path)]
    ]
    assert not bad, "layering broken:\n" + "\n".join(bad)


def test_no_function_level_imports_of_minigraph() -> None:
    """Imports inside functions were how cycles were dodged; the layering makes them needless."""
    bad = [
        f"{path.relative_to(ROOT.parent)}:{line} imports minigraph.{target} inside a function"
        for path in _modules()
        for target, line, inner in _imports(path)
        if inner
    ]
    assert not bad, "\n".join(bad)


def test_no_module_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT.parent)): n for p in _modules() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split these modules (one idea each): {long}"


def test_no_mode_sniffing_above_the_op_registry() -> None:
    """Above ops/, only the builder interface says whether ops run now or later."""
    bad = []
    for path in _modules():
        if _unit(path) not in ABOVE_OPS:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for pattern in SNIFFING:
                if re.search(pattern, line):
                    bad.append(f"{path.relative_to(ROOT.parent)}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)
