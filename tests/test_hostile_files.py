"""Hostile or damaged files are refused with a ModelFormatError naming the file and the item,
quickly and without large allocations; the command prints one line and exits 1.

Covers: block trees that loop (a block naming itself as parent once hung every loader),
JSON nested deeper than the parser's recursion, integers past Python's 4300-digit limit,
Infinity where an integer belongs, an archive member that inflates to far more than its
manifest says, checkpoints that provide none (or only some) of a program's persistables,
and `minigraph summary` on a model whose weights file is damaged."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import signal
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import minigraph as mg
from minigraph import io as mgio
from minigraph.cli import main as cli_main
from tests.test_io import archive_of


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging: SIGALRM interrupts a runaway loop in this thread."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    if not hasattr(signal, "SIGALRM"):
        yield
        return
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def saved(tmp_path) -> dict[str, Any]:
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 3])
        out = mg.layers.fc(x, 8)
        mg.optimizer.SGD(0.1).minimize(mg.layers.mean(out))
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    mgio.save_program(main, str(tmp_path / "main.json"))
    mgio.save_inference_model(str(tmp_path / "model"), ["x"], [out], exe, main, scope=scope)
    mgio.save_persistables(exe, str(tmp_path / "ckpt"), main, scope=scope)
    return {"main": main, "exe": exe, "scope": scope, "dir": tmp_path}


def edit_json(path: Path, edit: Callable[[dict[str, Any]], Any]) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def refused_everywhere(tmp_path: Path, capsys: Any, edit_program: Callable[[dict], Any], pattern: str) -> None:
    """Apply `edit_program` to the saved program and to the inference model's program; every
    loader raises ModelFormatError matching `pattern`, and the command prints one line, status 1."""
    edit_json(tmp_path / "main.json", edit_program)
    edit_json(tmp_path / "model" / "model.json", lambda d: edit_program(d["program"]))
    with deadline(20):
        with pytest.raises(mg.ModelFormatError, match=r"main\.json: .*" + pattern):
            mgio.load_program(str(tmp_path / "main.json"))
        with pytest.raises(mg.ModelFormatError, match=r"model\.json: .*" + pattern):
            mgio.load_inference_model(str(tmp_path / "model"), None, scope=mg.Scope())
        for target in (tmp_path / "main.json", tmp_path / "model"):
            assert cli_main(["summary", str(target)]) == 1
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and err.startswith("minigraph: error: "), err
            assert "Traceback" not in err


# --- block trees ----------------------------------------------------------------------------
def second_block(doc: dict[str, Any], parent: Any) -> None:
    """Add block 1 with `parent` as its parent_idx and an op reading an undeclared name."""
    op = {"type": "relu", "inputs": {"X": ["nowhere"]}, "outputs": {"Out": ["nowhere_out"]}, "attrs": {}}
    doc["blocks"].append({"idx": 1, "parent_idx": parent, "vars": [], "ops": [op]})


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (lambda d: second_block(d, 1), r"block 1 has parent_idx 1; a block's parent must be an earlier block"),
        (lambda d: second_block(d, 7), r"block 1 has parent_idx 7"),
        (lambda d: second_block(d, -1), r"block 1 has parent_idx -1"),
        (lambda d: d["blocks"][0].update(parent_idx=0), r"block 0 is the global block; its parent_idx must be -1"),
        (lambda d: d["blocks"][0].update(parent_idx=5), r"its parent_idx must be -1, got 5"),
        (lambda d: d["blocks"][0].update(idx=3), r"block #0 says its index is 3"),
        (lambda d: second_block(d, 0.5), r"field 'parent_idx' of block 1 must be an integer, got 0.5"),
    ],
)
def test_a_block_tree_that_loops_or_dangles_is_refused_at_once(saved, capsys, edit, pattern):
    refused_everywhere(saved["dir"], capsys, edit, pattern)


# --- JSON the standard parser cannot bound ---------------------------------------------------
def replace_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("target", ["main.json", "model/model.json", "ckpt/persistables.json"])
@pytest.mark.parametrize(
    "new, pattern",
    [
        ("[" * 100_000 + "]" * 100_000, r"nested 100001 levels deep; the limit is 64"),
        ("9" * 5000, r"an integer of 5000 digits"),
        ("-" + "1" * 40, r"an integer of 40 digits"),
        ("0." + "3" * 400, r"a number written with 402 characters"),
    ],
)
def test_json_beyond_the_parser_bounds_is_refused_naming_the_file(saved, capsys, target, new, pattern):
    path = saved["dir"] / target
    replace_text(path, '"format"', f'"junk": {new}, "format"')
    with deadline(20):
        with pytest.raises(mg.ModelFormatError, match=os.path.basename(target).replace(".", r"\.") + ": .*" + pattern):
            if target == "main.json":
                mgio.load_program(str(path))
            elif target.startswith("model"):
                mgio.load_inference_model(str(path.parent), None, scope=mg.Scope())
            else:
                mgio.load_persistables(None, str(path.parent), saved["main"], scope=mg.Scope())
        if not target.startswith("ckpt"):
            assert cli_main(["summary", str(path if target == "main.json" else path.parent)]) == 1
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err and pattern.split(" ")[0] in err


@pytest.mark.parametrize(
    "old, new, pattern",
    [
        ('"random_seed": 0', '"random_seed": Infinity', r"field random_seed must be an integer, got inf"),
        ('"random_seed": 0', '"random_seed": NaN', r"field random_seed must be an integer, got nan"),
        ('"random_seed": 0', '"random_seed": 1e400', r"field random_seed must be an integer, got inf"),
        ('"names": {', '"names": {"evil": -Infinity, ', r"field names\['evil'\] must be an integer >= 0, got -inf"),
        ('"role": 0', '"role": Infinity', r"op #0 \(mul\): field 'role' must be an op role.*got inf"),
        ('"role": 0', '"role": true', r"field 'role' must be an op role.*got True"),
    ],
)
def test_non_finite_numbers_where_integers_belong_are_refused(saved, capsys, old, new, pattern):
    for path in (saved["dir"] / "main.json", saved["dir"] / "model" / "model.json"):
        replace_text(path, old, new)
    refused_everywhere(saved["dir"], capsys, lambda d: None, pattern)


# --- archives that inflate ------------------------------------------------------------------
def inflating_archive(path: Path, name: str, claimed_shape: tuple[int, ...], real_bytes: int) -> None:
    """An archive whose member `name` inflates to `real_bytes` of zeros (a float32 header of
    that size), compressed to a small fraction of it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
            header = {"descr": "<f4", "fortran_order": False, "shape": claimed_shape}
            np.lib.format.write_array_header_1_0(f, header)
            chunk = bytes(1 << 20)
            for _ in range(real_bytes >> 20):
                f.write(chunk)


def peak_bytes(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("header_agrees", [False, True])
def test_a_member_that_inflates_beyond_its_manifest_is_refused_before_decompressing(saved, header_agrees):
    """128 MiB of zeros behind a ~0.6 MiB archive, while the manifest says float32[3, 8]:
    refused from the member's header (or, when the header agrees, from its size) with
    under 16 MiB allocated. Before, the whole member was decompressed first."""
    d = saved["dir"] / "ckpt"
    archive = archive_of(d)
    with np.load(archive) as z:
        arrays = {k: z[k] for k in z.files}
    real = 128 << 20
    inflating_archive(archive, "fc_0.w_0", (3, 8) if header_agrees else (real // 4,), real)
    with zipfile.ZipFile(archive, "a") as zf:  # the other tensors, unchanged
        for k, a in arrays.items():
            if k != "fc_0.w_0":
                member = io.BytesIO()
                np.lib.format.write_array(member, a)
                zf.writestr(f"{k}.npy", member.getvalue())
    assert archive.stat().st_size < real // 100
    edit_json(d / "persistables.json", lambda doc: doc.update(sha256=hashlib.sha256(archive.read_bytes()).hexdigest()))
    scope = mg.Scope()

    def load() -> None:
        pattern = (
            r"holds \d+ bytes, but its header" if header_agrees else r"float32\[33554432\] but .* says float32\[3, 8\]"
        )
        with pytest.raises(mg.ModelFormatError, match=r"fc_0\.w_0.*" + pattern):
            mgio.load_persistables(None, str(d), saved["main"], scope=scope)

    assert peak_bytes(load) < 16 << 20
    assert scope.local_var_names() == []


# --- checkpoints that provide nothing, or only part ---------------------------------------------
def test_a_checkpoint_that_provides_none_of_the_persistables_is_refused(saved):
    d, main = saved["dir"], saved["main"]
    names = sorted(v.name for v in main.list_vars() if v.persistable)

    def all_uninitialized(doc: dict[str, Any]) -> None:
        doc["tensors"], doc["uninitialized"] = [], names

    edit_json(d / "ckpt" / "persistables.json", all_uninitialized)
    scope = mg.Scope()
    for allow_partial in (False, True):
        with pytest.raises(mg.ModelFormatError, match=r"persistables\.json: .*value for none of the program's 3"):
            mgio.load_persistables(None, str(d / "ckpt"), main, scope=scope, allow_partial=allow_partial)
    assert scope.local_var_names() == []

    def model_all_uninitialized(doc: dict[str, Any]) -> None:
        doc["params"]["tensors"], doc["params"]["uninitialized"] = [], ["fc_0.w_0", "fc_0.b_0"]

    edit_json(d / "model" / "model.json", model_all_uninitialized)
    with pytest.raises(mg.ModelFormatError, match=r"model\.json: the model has no value for .*'fc_0\.w_0'.*reads"):
        mgio.load_inference_model(str(d / "model"), None, scope=scope)
    assert scope.local_var_names() == []


def test_a_checkpoint_that_provides_some_names_the_missing_ones(saved):
    d, main = saved["dir"], saved["main"]

    def drop_bias(doc: dict[str, Any]) -> None:
        doc["tensors"] = [t for t in doc["tensors"] if t["name"] != "fc_0.b_0"]
        doc["uninitialized"] = ["fc_0.b_0"]

    edit_json(d / "ckpt" / "persistables.json", drop_bias)
    scope = mg.Scope()
    with pytest.raises(mg.ModelFormatError, match=r"no value for 'fc_0\.b_0'.*allow_partial=True"):
        mgio.load_persistables(None, str(d / "ckpt"), main, scope=scope)
    assert scope.local_var_names() == []
    mgio.load_persistables(None, str(d / "ckpt"), main, scope=scope, allow_partial=True)
    assert sorted(scope.local_var_names()) == ["fc_0.w_0", "learning_rate_0"]


# --- the command on damaged weights -----------------------------------------------------------
@pytest.mark.parametrize("damage", ["pickle", "corrupt", "checksum", "missing"])
def test_summary_reports_damaged_weights_and_exits_1(saved, capsys, damage):
    d = saved["dir"] / "model"
    archive = archive_of(d, "model.json")
    raw = archive.read_bytes()
    if damage == "pickle":  # with a matching checksum, so the archive reader itself sees it
        archive.write_bytes(pickle.dumps({"fc_0.w_0": [1.0]}))
        sha = hashlib.sha256(archive.read_bytes()).hexdigest()
        edit_json(d / "model.json", lambda doc: doc["params"].update(sha256=sha))
    elif damage == "corrupt":
        archive.write_bytes(raw[: len(raw) // 2])
    elif damage == "checksum":
        edit_json(d / "model.json", lambda doc: doc["params"].update(sha256="0" * 64))
    else:
        archive.unlink()
    code = cli_main(["summary", str(d)])
    captured = capsys.readouterr()
    if damage == "missing":  # no weights at all: the program can still be described
        assert code == 0 and "fetch targets" in captured.out
        return
    assert code == 1, captured
    err = captured.err
    assert err.count("\n") == 1 and err.startswith("minigraph: error: ") and archive.name in err
    assert {"pickle": "pickle", "corrupt": "checksum", "checksum": "checksum"}[damage] in err
