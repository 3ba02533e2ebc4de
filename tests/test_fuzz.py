"""Property-based checks: random shapes, attributes and feeds given to the layer builders
and the executor, and mutated files given to the loaders, raise only minigraph's own
errors (MinigraphError) — never a raw numpy/IndexError from deep inside."""

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigraph as mg
from minigraph.cli import main as cli_main
from tests.test_hostile_files import deadline
from tests.test_io import archive_of

# Under CI the examples are fixed (derandomize), so a run can't fail by luck; locally each run
# explores new ones. MINIGRAPH_FUZZ_EXAMPLES raises the budget for a longer hunt.
SETTINGS = settings(
    max_examples=int(os.environ.get("MINIGRAPH_FUZZ_EXAMPLES", "60")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

dims = st.integers(min_value=1, max_value=5)
shapes = st.lists(dims, min_size=1, max_size=5)
small_int = st.integers(min_value=-3, max_value=6)


def _feed_for(v, rng):
    shape = tuple(d if d >= 0 else 2 for d in v.shape)
    if v.dtype.startswith("int"):
        return rng.integers(0, 3, size=shape).astype(v.dtype)
    return rng.normal(size=shape).astype(v.dtype)


def _build_and_run(build, shape, dtype="float32"):
    """Build with `build(x)`; if that works, run it once on random data."""
    main, startup = mg.Program(), mg.Program()
    try:
        with mg.program_guard(main, startup):
            x = mg.data("x", [None] + list(shape[1:]), dtype)
            out = build(x)
        outs = out if isinstance(out, (list, tuple)) else [out]
        exe, scope = mg.Executor(), mg.Scope()
        exe.run(startup, scope=scope)
        rng = np.random.default_rng(0)
        feed = {"x": rng.normal(size=shape).astype(dtype)}
        with np.errstate(all="ignore"):
            exe.run(main, feed=feed, fetch_list=outs, scope=scope)
    except mg.MinigraphError:
        pass


@SETTINGS
@given(shape=shapes, size=small_int, flat=small_int, act=st.sampled_from([None, "relu", "tanh", "softmax"]))
def test_fc(shape, size, flat, act):
    _build_and_run(lambda x: mg.layers.fc(x, size, num_flatten_dims=flat, act=act), [2] + shape)


@SETTINGS
@given(shape=shapes, target=st.lists(st.integers(-2, 8), min_size=1, max_size=4))
def test_reshape(shape, target):
    _build_and_run(lambda x: mg.layers.reshape(x, target), [2] + shape)


@SETTINGS
@given(shape=shapes, axis=small_int, op=st.sampled_from(["softmax", "log_softmax"]))
def test_softmax_axis(shape, axis, op):
    _build_and_run(lambda x: getattr(mg.layers, op)(x, axis=axis), [2] + shape)


@SETTINGS
@given(shape=shapes, perm=st.lists(small_int, min_size=0, max_size=6))
def test_transpose(shape, perm):
    _build_and_run(lambda x: mg.layers.transpose(x, perm), [2] + shape)


@SETTINGS
@given(shape=shapes, axis=small_int, sections=st.one_of(small_int, st.lists(small_int, min_size=1, max_size=3)))
def test_split_concat(shape, axis, sections):
    def build(x):
        parts = mg.layers.split(x, sections, dim=axis)
        return mg.layers.concat(parts, axis=axis)

    _build_and_run(build, [2] + shape)


@SETTINGS
@given(
    shape=shapes,
    dim=st.one_of(st.none(), small_int, st.lists(small_int, max_size=3)),
    keep=st.booleans(),
    op=st.sampled_from(["reduce_sum", "reduce_mean", "reduce_max"]),
)
def test_reductions(shape, dim, keep, op):
    _build_and_run(lambda x: getattr(mg.layers, op)(x, dim=dim, keep_dim=keep), [2] + shape)


@SETTINGS
@given(
    hw=st.integers(1, 7),
    c=st.integers(1, 4),
    filters=small_int,
    k=small_int,
    stride=small_int,
    pad=small_int,
    dil=small_int,
    groups=small_int,
    fmt=st.sampled_from(["NCHW", "NHWC"]),
)
def test_conv2d(hw, c, filters, k, stride, pad, dil, groups, fmt):
    shape = [2, c, hw, hw] if fmt == "NCHW" else [2, hw, hw, c]
    _build_and_run(
        lambda x: mg.layers.conv2d(
            x, filters, k, stride=stride, padding=pad, dilation=dil, groups=groups, data_format=fmt
        ),
        shape,
    )


@SETTINGS
@given(
    hw=st.integers(1, 7),
    k=small_int,
    stride=small_int,
    pad=small_int,
    kind=st.sampled_from(["max", "avg"]),
    ceil=st.booleans(),
    exclusive=st.booleans(),
    glob=st.booleans(),
)
def test_pool2d(hw, k, stride, pad, kind, ceil, exclusive, glob):
    _build_and_run(
        lambda x: mg.layers.pool2d(x, k, kind, stride, pad, global_pooling=glob, ceil_mode=ceil, exclusive=exclusive),
        [2, 3, hw, hw],
    )


@SETTINGS
@given(
    shape=st.lists(dims, min_size=0, max_size=6),
    layout=st.sampled_from(["NCHW", "NHWC", "NCWH"]),
    eps=st.floats(-1, 1),
    momentum=st.floats(-1, 2),
    is_test=st.booleans(),
    glob=st.booleans(),
    dtype=st.sampled_from(["float32", "float64", "int64"]),
)
def test_batch_norm(shape, layout, eps, momentum, is_test, glob, dtype):
    _build_and_run(
        lambda x: mg.layers.batch_norm(
            x, epsilon=eps, momentum=momentum, is_test=is_test, use_global_stats=glob, data_layout=layout
        ),
        [2] + shape,
        dtype,
    )


@SETTINGS
@given(classes=st.integers(1, 5), label_value=st.integers(-2, 7), soft=st.booleans())
def test_softmax_with_cross_entropy(classes, label_value, soft):
    main, startup = mg.Program(), mg.Program()
    try:
        with mg.program_guard(main, startup):
            x = mg.data("x", [None, classes])
            label = mg.data("label", [None, classes if soft else 1], "float32" if soft else "int64")
            loss = mg.layers.softmax_with_cross_entropy(x, label, soft_label=soft)
        lab = np.full((2, classes if soft else 1), label_value, "float32" if soft else "int64")
        mg.Executor().run(
            main, feed={"x": np.zeros((2, classes), "float32"), "label": lab}, fetch_list=[loss], scope=mg.Scope()
        )
    except mg.MinigraphError:
        pass


feed_values = st.one_of(
    st.builds(
        lambda s, d: np.zeros(s, d),
        st.lists(st.integers(0, 4), max_size=4),
        st.sampled_from(["float32", "float64", "int64", "int8", "bool", "complex64", "uint8"]),
    ),
    st.lists(st.floats(allow_nan=True), max_size=4),
    st.text(max_size=3),
    st.none(),
    st.integers(),
    st.lists(st.lists(st.integers(), max_size=3), max_size=3),
)


@SETTINGS
@given(value=feed_values, key=st.sampled_from(["x", "label", "y", "fc_0.w_0"]))
def test_executor_feeds(value, key):
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3])
        label = mg.data("label", [None, 1], "int64")
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(mg.layers.fc(x, 4), label))
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    feed = {"x": np.zeros((2, 3), "float32"), "label": np.zeros((2, 1), "int64"), key: value}
    try:
        exe.run(main, feed=feed, fetch_list=[loss], scope=scope)
    except mg.MinigraphError:
        pass


def _mutations():
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=4), st.floats(allow_nan=False))
    return st.recursive(
        leaf,
        lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=5), kids, max_size=3)),
        max_leaves=6,
    )


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz_model")
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 1, 4, 4])
        h = mg.layers.conv2d(x, 2, 3, padding=1)
        h = mg.layers.batch_norm(h, act="relu")
        y = mg.layers.fc(h, 3)
    exe = mg.Executor()
    with mg.scope_guard(mg.Scope()):
        exe.run(startup)
        mg.io.save_inference_model(str(d / "model"), ["x"], [y], exe, main_program=main)
    return d / "model"


@SETTINGS
@given(data=st.data())
def test_loading_mutated_model_json(saved_model, data, tmp_path):
    doc = json.loads((saved_model / "model.json").read_text())
    paths = list(_paths(doc))
    path = data.draw(st.sampled_from(paths))
    value = data.draw(_mutations())
    mutated = json.loads(json.dumps(doc))
    if path:
        target = mutated
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
    else:
        mutated = value
    out = tmp_path / "m"
    out.mkdir(exist_ok=True)
    (out / "model.json").write_text(json.dumps(mutated))
    archive = archive_of(saved_model, "model.json").name
    (out / archive).write_bytes((saved_model / archive).read_bytes())
    try:
        with mg.scope_guard(mg.Scope()):
            mg.io.load_inference_model(str(out), mg.Executor())
    except mg.MinigraphError:
        pass


@SETTINGS
@given(cut=st.integers(0, 10_000), flip=st.integers(0, 10_000))
def test_loading_truncated_or_corrupted_tensors(saved_model, cut, flip, tmp_path):
    archive = archive_of(saved_model, "model.json").name
    raw = bytearray((saved_model / archive).read_bytes())
    if flip < len(raw):
        raw[flip] ^= 0xFF
    raw = raw[: min(cut, len(raw))] if cut < len(raw) else raw
    out = tmp_path / "m"
    out.mkdir(exist_ok=True)
    (out / "model.json").write_bytes((saved_model / "model.json").read_bytes())
    (out / archive).write_bytes(bytes(raw))
    try:
        with mg.scope_guard(mg.Scope()):
            mg.io.load_inference_model(str(out), mg.Executor())
    except mg.MinigraphError:
        pass
    assert not os.path.exists(out / "pwned")


# --- hostile JSON: block trees, nesting depth, huge and non-finite numbers --------------------
# Tokens JSON can hold but json.dumps will not write (or that break a loader): spliced into
# the text in place of a placeholder string.
hostile_numbers = st.one_of(
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.integers(1, 6000).map(lambda n: "-" + "1" * n),
    st.sampled_from(["Infinity", "-Infinity", "NaN", "1e400", "-1e400", "1e-400", "0." + "3" * 500]),
    st.integers(-(2**70), 2**70).map(str),
)
deep_nesting = st.tuples(st.integers(1, 3000), st.sampled_from(["[", "{"])).map(
    lambda t: ("[" * t[0] + "]" * t[0]) if t[1] == "[" else ('{"a":' * t[0] + "1" + "}" * t[0])
)
hostile_tokens = st.one_of(hostile_numbers, deep_nesting)


def _block_trees(program_doc):
    """Strategies for a program's blocks: 1-4 blocks, any idx / parent_idx (cycles, self
    parents, dangling or non-integer parents), sub-block ops reading undeclared names."""
    parent = st.one_of(st.integers(-3, 5), st.sampled_from([None, True, 0.5, "0"]), hostile_numbers)

    def build(spec):
        blocks = [json.loads(json.dumps(program_doc["blocks"][0]))]
        for i, (idx, par) in enumerate(spec):
            op = {"type": "relu", "inputs": {"X": [f"ghost_{i}"]}, "outputs": {"Out": [f"ghost_{i}_out"]}, "attrs": {}}
            blocks.append({"idx": idx, "parent_idx": par, "vars": [], "ops": [op]})
        return blocks

    spec = st.lists(st.tuples(st.integers(-1, 5), parent), max_size=3)
    return st.tuples(spec, parent).map(lambda t: (build(t[0]), t[1]))


def _splice(doc, path, token, placeholder="@@hostile@@"):
    target = doc
    for p in path[:-1]:
        target = target[p]
    if path:
        target[path[-1]] = placeholder
        return json.dumps(doc).replace(json.dumps(placeholder), token, 1)
    return token


def _loaders_refuse_cleanly(tmp_path, model_text, archive_bytes, archive_name, program_text):
    out = tmp_path / "m"
    out.mkdir(exist_ok=True)
    (out / "model.json").write_text(model_text)
    (out / archive_name).write_bytes(archive_bytes)
    (tmp_path / "p.json").write_text(program_text)
    with deadline(30):
        for load in (
            lambda: mg.io.load_inference_model(str(out), mg.Executor(), scope=mg.Scope()),
            lambda: mg.io.load_program(str(tmp_path / "p.json")),
        ):
            try:
                load()
            except mg.MinigraphError:
                pass
        for target in (out, tmp_path / "p.json"):
            assert cli_main(["summary", str(target)]) in (0, 1)


@SETTINGS
@given(data=st.data())
def test_loading_hostile_json_raises_only_minigraph_errors(saved_model, data, tmp_path, capsys):
    doc = json.loads((saved_model / "model.json").read_text())
    archive = archive_of(saved_model, "model.json")
    kind = data.draw(st.sampled_from(["token", "blocks"]))
    if kind == "token":  # a hostile number or a deep nest anywhere in the document
        path = data.draw(st.sampled_from(list(_paths(doc))))
        model_text = _splice(json.loads(json.dumps(doc)), path, data.draw(hostile_tokens))
    else:  # a block tree, maybe with a hostile root parent_idx
        blocks, root_parent = data.draw(_block_trees(doc["program"]))
        mutated = json.loads(json.dumps(doc))
        mutated["program"]["blocks"] = blocks
        mutated["program"]["blocks"][0]["parent_idx"] = root_parent
        model_text = json.dumps(mutated)
    program_text = model_text
    try:
        inner = json.loads(model_text)
        if isinstance(inner, dict) and isinstance(inner.get("program"), dict):
            program_text = json.dumps(inner["program"])
    except (ValueError, RecursionError):
        pass  # not parseable by the standard parser at all: use it as is
    _loaders_refuse_cleanly(tmp_path, model_text, archive.read_bytes(), archive.name, program_text)
    err = capsys.readouterr().err
    assert "Traceback" not in err and all(line.startswith("minigraph: ") for line in err.splitlines())
