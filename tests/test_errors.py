"""Every deliberate error is a MinigraphError (and still the builtin type a Python user
expects), with a message naming the call and the argument."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import minigraph as mg

ROOT = Path(__file__).resolve().parent.parent / "minigraph"


def _static(build: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        with mg.program_guard(mg.Program(), mg.Program()):
            return build()

    return run


def _x() -> mg.Variable:
    return mg.data("x", [None, 4])


def _model_average() -> object:
    loss = mg.layers.mean(mg.layers.fc(_x(), 2))
    mg.optimizer.SGD(0.1).minimize(loss)
    return mg.optimizer.ModelAverage(-1.0)


def _run(feed: dict, fetch: list) -> object:
    main = mg.Program()
    with mg.program_guard(main):
        y = mg.layers.scale(_x(), 2.0)
    return mg.Executor().run(main, feed=feed, fetch_list=[y if f == "y" else f for f in fetch], scope=mg.Scope())


def _eager(value: object) -> Callable[[], object]:
    def run() -> object:
        with mg.dygraph.guard():
            return mg.dygraph.to_variable(value)

    return run


CASES = [
    ("data(shape=[-5])", _static(lambda: mg.data("x", shape=[-5])), ValueError, r"data\('x'\): shape: dimension -5"),
    ("data(dtype=complex64)", _static(lambda: mg.data("x", [2], "complex64")), TypeError, r"data\('x'\): dtype: .*'complex64'"),
    ("reshape(shape=None)", _static(lambda: mg.layers.reshape(_x(), shape=None)), TypeError, r"reshape: shape must be"),
    ("cast(x, 'object')", _static(lambda: mg.layers.cast(_x(), "object")), TypeError, r"cast\('x'\): dtype: .*'object'"),
    ("SGD('a')", lambda: mg.optimizer.SGD("a"), TypeError, r"SGD: learning_rate must be a number"),
    ("ModelAverage(-1.0)", _static(_model_average), ValueError, r"ModelAverage: average_window_rate must be .*-1\.0"),
    ("append_backward(None)", lambda: mg.append_backward(None), TypeError, r"append_backward expects the loss"),
    ("feed keyed by an int", lambda: _run({1: np.ones((1, 4))}, ["y"]), TypeError, r"Executor\.run: feed keys .*got 1"),
    ("fetch_list=[None]", lambda: _run({"x": np.ones((1, 4))}, [None]), TypeError, r"Executor\.run: fetch_list .*None"),
    ("fc(None)", _static(lambda: mg.layers.fc(None, 3)), TypeError, r"fc_0: input must be a Variable.*got None"),
    ("fill_constant(value='a')", _static(lambda: mg.layers.fill_constant([2], "float32", "a")), TypeError,
     r"fill_constant\(dtype='float32'\): value must be a number, got 'a'"),
    ("Constant('a')", lambda: mg.initializer.Constant("a"), TypeError, r"Constant: value must be a number"),
    ("to_variable('abc')", _eager("abc"), TypeError, r"to_variable: value must be numbers.*'abc'"),
    ("to_variable(None)", _eager(None), TypeError, r"to_variable: value must be numbers.*None"),
    ("to_variable(object array)", _eager(np.array([object()], dtype=object)), TypeError, r"to_variable: .*dtype object"),
]  # fmt: skip


@pytest.mark.parametrize("call, fn, builtin, pattern", CASES, ids=[c[0] for c in CASES])
def test_a_bad_argument_is_a_minigraph_error_naming_the_call(call, fn, builtin, pattern):
    with pytest.raises(mg.MinigraphError, match=pattern) as info:
        fn()
    assert isinstance(info.value, builtin), type(info.value).__mro__


def test_a_feed_keyed_by_a_variable_of_another_program_names_both_programs():
    main, other = mg.Program(), mg.Program()
    with mg.program_guard(other):
        foreign = mg.data("x", [None, 4])  # same name, another program
    with mg.program_guard(main):
        x = _x()
        y = mg.layers.scale(x, 2.0)
    feed = np.ones((1, 4), "float32")
    with pytest.raises(mg.FeedError, match=rf"feed key 'x' is a Variable of another program \(program #{other._uid}:.*"
                       rf"the one being run \(program #{main._uid}:.*key the feed by the name 'x'"):  # fmt: skip
        mg.Executor().run(main, feed={foreign: feed}, fetch_list=[y], scope=mg.Scope())
    # a clone is the same program for this purpose: its Variables may key the original's feeds
    test = main.clone(for_test=True)
    (out,) = mg.Executor().run(test, feed={x: feed}, fetch_list=[y], scope=mg.Scope())
    assert out.tolist() == [[2.0] * 4]


def _builtin_raises(path: Path) -> list[str]:
    """`raise TypeError(...)`-style statements of builtin error types."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name):
            if node.exc.func.id in ("TypeError", "ValueError", "AttributeError", "IndexError", "RuntimeError"):
                found.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} raises {node.exc.func.id}")
    return found


def test_no_deliberate_error_is_a_bare_builtin():
    # registry.py's are for whoever registers an op twice, at import: not a user's error
    offenders = [f for p in sorted(ROOT.rglob("*.py")) if p.name != "registry.py" for f in _builtin_raises(p)]
    assert offenders == []
