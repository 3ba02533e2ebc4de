"""Loading never runs code and refuses damaged files with an error naming the file and the
item; saving is atomic, so an interrupted save leaves the previous model intact."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import zipfile

import numpy as np
import pytest

import minigraph as mg
from minigraph import io as mgio
from tests.test_io import archive_of, assert_same_values, trained, values


class Payload:
    """Unpickling this creates `marker`: proof that a loader ran code from a file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def payload_bytes(marker) -> bytes:
    return pickle.dumps(Payload(str(marker)))


@pytest.fixture
def model(tmp_path):
    """A trained net with a checkpoint in tmp/ckpt and an inference model in tmp/model."""
    net, exe, scope = trained(2)
    mgio.save_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=scope)
    mgio.save_inference_model(str(tmp_path / "model"), ["x"], [net.logits], exe, net.main, scope=scope)
    mgio.save_program(net.main, str(tmp_path / "main.json"))
    return net, exe, scope


def model_archive(tmp_path):
    """The fixture model's tensor archive (its name is content-addressed)."""
    return archive_of(tmp_path / "model", "model.json")


def ckpt_archive(tmp_path):
    """The fixture checkpoint's tensor archive."""
    return archive_of(tmp_path / "ckpt")


def snapshot(directory) -> dict[str, bytes]:
    return {n: (directory / n).read_bytes() for n in sorted(os.listdir(directory)) if (directory / n).is_file()}


def rewrite_archive(npz_path, manifest_path, arrays: dict[str, np.ndarray], params_key: str | None = None) -> None:
    """Replace an archive and keep its manifest consistent with it (as a deliberate editor
    or attacker would): keys, dtypes, shapes and checksum all describe the new archive."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    npz_path.write_bytes(buf.getvalue())
    doc = json.loads(manifest_path.read_text())
    manifest = doc[params_key] if params_key else doc
    manifest["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    manifest["tensors"] = [
        {"name": k, "key": k, "dtype": np.asarray(a).dtype.name, "shape": list(np.shape(a))} for k, a in arrays.items()
    ]
    manifest_path.write_text(json.dumps(doc))


def load_arrays(npz_path) -> dict[str, np.ndarray]:
    with np.load(npz_path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# --- no code execution -------------------------------------------------------------------


def test_the_payload_is_live(tmp_path):
    """The payload used below really runs code when unpickled (so the tests mean something)."""
    marker = tmp_path / "ran"
    pickle.loads(payload_bytes(marker))
    assert marker.exists()


@pytest.mark.parametrize(
    "target", ["ckpt/ARCHIVE", "ckpt/persistables.json", "model/ARCHIVE", "model/model.json", "main.json"]
)
def test_a_file_replaced_by_a_pickle_is_refused_and_never_run(tmp_path, model, target):
    net, exe, _ = model
    marker = tmp_path / "pwned"
    if target.endswith("ARCHIVE"):  # the archive the manifest names
        target = str(ckpt_archive(tmp_path) if target.startswith("ckpt") else model_archive(tmp_path))
        target = os.path.relpath(target, tmp_path)
    (tmp_path / target).write_bytes(payload_bytes(marker))
    scope = mg.Scope()
    with pytest.raises(mg.ModelFormatError, match=re.escape(target.split("/")[-1])):
        if target.startswith("ckpt"):
            mgio.load_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=scope)
        elif target.startswith("model"):
            mgio.load_inference_model(str(tmp_path / "model"), exe, scope=scope)
        else:
            mgio.load_program(str(tmp_path / target))
    assert not marker.exists()
    assert scope.local_var_names() == []


def test_a_pickle_is_named_as_such(tmp_path, model):
    net, exe, _ = model
    ckpt_archive(tmp_path).write_bytes(payload_bytes(tmp_path / "pwned"))
    doc = json.loads((tmp_path / "ckpt" / "persistables.json").read_text())
    del doc["sha256"]  # get past the checksum to the archive reader itself
    (tmp_path / "ckpt" / "persistables.json").write_text(json.dumps(doc))
    with pytest.raises(
        mg.ModelFormatError, match=r"persistables\.[0-9a-f]{16}\.npz: not an \.npz tensor archive.*pickle"
    ):
        mgio.load_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=mg.Scope())
    assert not (tmp_path / "pwned").exists()


def test_an_object_array_inside_the_archive_is_refused_and_never_run(tmp_path, model):
    net, exe, _ = model
    marker = tmp_path / "pwned"
    npz, manifest = model_archive(tmp_path), tmp_path / "model" / "model.json"
    arrays = load_arrays(npz)
    arrays["fc_0.w_0"] = np.array([Payload(str(marker))], dtype=object)
    rewrite_archive(npz, manifest, arrays, params_key="params")
    doc = json.loads(manifest.read_text())
    next(t for t in doc["params"]["tensors"] if t["name"] == "fc_0.w_0").update(dtype="float32", shape=[6, 5])
    manifest.write_text(json.dumps(doc))
    scope = mg.Scope()
    with pytest.raises(mg.ModelFormatError, match=r"model\.[0-9a-f]{16}\.npz: cannot read tensor 'fc_0\.w_0'.*pickled"):
        mgio.load_inference_model(str(tmp_path / "model"), exe, scope=scope)
    assert not marker.exists()
    assert scope.local_var_names() == []


# --- damaged or inconsistent files -------------------------------------------------------


@pytest.mark.parametrize("keep_checksum", [True, False])
def test_a_truncated_archive_is_refused(tmp_path, model, keep_checksum):
    net, exe, _ = model
    npz = ckpt_archive(tmp_path)
    data = npz.read_bytes()
    npz.write_bytes(data[: len(data) // 2])
    if not keep_checksum:
        doc = json.loads((tmp_path / "ckpt" / "persistables.json").read_text())
        del doc["sha256"]
        (tmp_path / "ckpt" / "persistables.json").write_text(json.dumps(doc))
    with pytest.raises(mg.ModelFormatError, match=r"persistables\.[0-9a-f]{16}\.npz") as info:
        mgio.load_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=mg.Scope())
    assert ("checksum" in str(info.value)) == keep_checksum


def test_a_truncated_npy_member_is_refused(tmp_path, model):
    net, exe, _ = model
    npz, manifest = model_archive(tmp_path), tmp_path / "model" / "model.json"
    arrays = load_arrays(npz)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, arr, allow_pickle=False)
            raw = member.getvalue()
            zf.writestr(f"{name}.npy", raw[:-8] if name == "fc_1.w_0" else raw)
    npz.write_bytes(buf.getvalue())
    doc = json.loads(manifest.read_text())
    doc["params"]["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    manifest.write_text(json.dumps(doc))
    with pytest.raises(mg.ModelFormatError, match=r"model\.[0-9a-f]{16}\.npz: cannot read tensor 'fc_1\.w_0'"):
        mgio.load_inference_model(str(tmp_path / "model"), exe, scope=mg.Scope())


def test_a_single_npy_instead_of_an_archive_is_refused(tmp_path, model):
    net, exe, _ = model
    npz = ckpt_archive(tmp_path)
    np.save(npz.open("wb"), np.zeros(3, "float32"))
    doc = json.loads((tmp_path / "ckpt" / "persistables.json").read_text())
    del doc["sha256"]
    (tmp_path / "ckpt" / "persistables.json").write_text(json.dumps(doc))
    with pytest.raises(mg.ModelFormatError, match=r"persistables\.[0-9a-f]{16}\.npz: not an \.npz.*single \.npy"):
        mgio.load_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=mg.Scope())


@pytest.mark.parametrize("target", ["model/model.json", "ckpt/persistables.json", "main.json"])
def test_bad_json_is_refused(tmp_path, model, target):
    net, exe, _ = model
    path = tmp_path / target
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(mg.ModelFormatError, match=re.escape(path.name) + ": not a valid JSON.*line 1"):
        if target.startswith("model"):
            mgio.load_inference_model(str(tmp_path / "model"), exe, scope=mg.Scope())
        elif target.startswith("ckpt"):
            mgio.load_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=mg.Scope())
        else:
            mgio.load_program(str(path))


def edit_model(tmp_path, edit) -> None:
    path = tmp_path / "model" / "model.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def first_op(doc, op_type):
    return next(op for op in doc["program"]["blocks"][0]["ops"] if op["type"] == op_type)


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (lambda d: first_op(d, "mul").update(type="mul_v2"), r"op #0 \(mul_v2\): unknown op type 'mul_v2'"),
        (
            lambda d: first_op(d, "mul")["attrs"].update(x_num_col_dims="1"),
            r"op #0 \(mul\).*attribute 'x_num_col_dims' must be int, got '1'",
        ),
        (
            lambda d: first_op(d, "mul")["attrs"].update(frobnicate=1),
            r"op #0 \(mul\).*unknown attribute\(s\) \['frobnicate'\]",
        ),
        (lambda d: first_op(d, "mul")["inputs"].pop("Y"), r"op #0 \(mul\).*input slot 'Y' is required"),
        (lambda d: first_op(d, "mul")["inputs"].update(Y=["ghost"]), r"op #0 \(mul\).*'ghost' is not a declared"),
        (lambda d: d["program"]["blocks"][0]["vars"][0].update(dtype="object"), r"var #0 \('x'\).*unsupported dtype"),
        (lambda d: d.update(version=99), r"unsupported minigraph\.inference_model format version 99"),
        (lambda d: d["program"].update(version=99), r"unsupported format version 99"),
        (lambda d: d.update(fetch=["nope"]), r"fetch variable 'nope' is not a variable of the program"),
        (lambda d: d.update(feed="x"), r"field 'feed' must be a list"),
        (lambda d: d.update(format="something.else"), r"not a minigraph\.inference_model file"),
        (lambda d: d.pop("params"), r" \(params\): the tensor manifest must be an object"),
    ],
)
def test_a_malformed_model_is_refused_naming_file_and_item(tmp_path, model, edit, pattern):
    net, exe, _ = model
    edit_model(tmp_path, edit)
    scope = mg.Scope()
    with pytest.raises(mg.ModelFormatError, match=r"model\.json.*" + pattern):
        mgio.load_inference_model(str(tmp_path / "model"), exe, scope=scope)
    assert scope.local_var_names() == []


def test_a_missing_attr_gets_its_default(tmp_path, model):
    net, exe, scope = model
    edit_model(tmp_path, lambda d: first_op(d, "mul")["attrs"].pop("y_num_col_dims"))
    program, feeds, fetches = mgio.load_inference_model(str(tmp_path / "model"), exe, scope=mg.Scope())
    assert program.global_block().ops[0].attr("y_num_col_dims") == 1


@pytest.mark.parametrize("kind", ["persistables", "program"])
def test_unknown_versions_are_refused(tmp_path, model, kind):
    net, exe, _ = model
    path = tmp_path / ("ckpt/persistables.json" if kind == "persistables" else "main.json")
    doc = json.loads(path.read_text())
    doc["version"] = 2
    path.write_text(json.dumps(doc))
    with pytest.raises(mg.ModelFormatError, match=re.escape(path.name) + ": unsupported.*version 2"):
        if kind == "persistables":
            mgio.load_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=mg.Scope())
        else:
            mgio.load_program(str(path))


def test_a_variable_missing_from_the_checkpoint_is_named(tmp_path, model):
    net, exe, _ = model
    with mg.program_guard(net.main, net.startup):
        mg.layers.fc(net.logits, size=2)  # fc_2.w_0 and fc_2.b_0 were never saved
    scope = mg.Scope()
    with pytest.raises(
        mg.ModelFormatError, match=r"persistables\.[0-9a-f]{16}\.npz: missing tensor.*'fc_2\.w_0' \(closest saved"
    ):
        mgio.load_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=scope)
    assert scope.local_var_names() == []


def test_a_tensor_listed_but_absent_from_the_archive_is_named(tmp_path, model):
    net, exe, _ = model
    npz, manifest = ckpt_archive(tmp_path), tmp_path / "ckpt" / "persistables.json"
    arrays = load_arrays(npz)
    rewrite_archive(npz, manifest, arrays)
    doc = json.loads(manifest.read_text())
    doc["tensors"] = [dict(t, key="elsewhere") if t["name"] == "fc_1.b_0" else t for t in doc["tensors"]]
    manifest.write_text(json.dumps(doc))
    with pytest.raises(mg.ModelFormatError, match=r"tensor 'fc_1\.b_0' is listed in the manifest but missing"):
        mgio.load_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=mg.Scope())


@pytest.mark.parametrize(
    "bad, pattern",
    [
        (np.zeros((5, 6), "float32"), r"'fc_0\.w_0' is float32\[5, 6\] but the program declares float32\[6, 5\]"),
        (np.zeros((6, 5), "float64"), r"'fc_0\.w_0' is float64\[6, 5\] but the program declares float32\[6, 5\]"),
    ],
)
def test_a_mis_shaped_or_mis_typed_tensor_changes_nothing(tmp_path, model, bad, pattern):
    net, exe, scope = model
    npz, manifest = ckpt_archive(tmp_path), tmp_path / "ckpt" / "persistables.json"
    arrays = load_arrays(npz)
    arrays["fc_0.w_0"] = bad
    rewrite_archive(npz, manifest, arrays)
    names = net.persistable_names()
    for n in names:  # make every value differ from the checkpoint
        scope.var(n).set(np.array(scope.find_var(n).get_tensor()) + 1)
    before = values(scope, names)
    with pytest.raises(mg.ModelFormatError, match=r"persistables\.[0-9a-f]{16}\.npz: tensor " + pattern):
        mgio.load_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=scope)
    assert_same_values(values(scope, names), before)  # all-or-nothing: nothing was written


def test_archive_and_manifest_disagreeing_is_refused(tmp_path, model):
    net, exe, _ = model
    npz, manifest = ckpt_archive(tmp_path), tmp_path / "ckpt" / "persistables.json"
    rewrite_archive(npz, manifest, load_arrays(npz))
    doc = json.loads(manifest.read_text())
    next(t for t in doc["tensors"] if t["name"] == "fc_0.b_0")["shape"] = [4]
    manifest.write_text(json.dumps(doc))
    with pytest.raises(mg.ModelFormatError, match=r"'fc_0\.b_0' is float32\[5\] but .*persistables\.json says"):
        mgio.load_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=mg.Scope())


def test_files_from_two_different_saves_are_detected(tmp_path, model):
    net, exe, scope = model
    old_params = model_archive(tmp_path).read_bytes()
    exe.run(net.main, feed={"x": np.ones((2, 6), "float32"), "label": np.ones((2, 3), "float32")}, scope=scope)
    mgio.save_inference_model(str(tmp_path / "model"), ["x"], [net.logits], exe, net.main, scope=scope)
    model_archive(tmp_path).write_bytes(old_params)
    with pytest.raises(
        mg.ModelFormatError, match=r"model\.[0-9a-f]{16}\.npz: contents do not match the checksum.*model\.json"
    ):
        mgio.load_inference_model(str(tmp_path / "model"), exe, scope=mg.Scope())


def test_a_missing_file_is_named(tmp_path, model):
    net, exe, _ = model
    os.remove(model_archive(tmp_path))
    with pytest.raises(
        mgio.ModelFileNotFoundError, match=r"model\.[0-9a-f]{16}\.npz: no such tensor file.*model\.json"
    ):
        mgio.load_inference_model(str(tmp_path / "model"), exe, scope=mg.Scope())
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mgio.load_inference_model(str(tmp_path / "nowhere"), exe)


# --- interrupted saves -------------------------------------------------------------------


def fail_savez_midway(file, *args, **kwds):
    file.write(b"PK\x03\x04 half an archive")
    raise OSError("No space left on device")


def fail_json_dump(*args, **kwargs):
    raise OSError("No space left on device")


def interrupt_savez(file, *args, **kwds):
    file.write(b"PK")
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "where, fake, error",
    [
        ("numpy.savez", fail_savez_midway, OSError),
        ("json.dump", fail_json_dump, OSError),
        ("numpy.savez", interrupt_savez, KeyboardInterrupt),
    ],
)
def test_an_interrupted_save_leaves_the_previous_model_intact(tmp_path, model, monkeypatch, where, fake, error):
    net, exe, scope = model
    feed = {"x": np.ones((2, 6), "float32")}
    program, _, fetches = mgio.load_inference_model(str(tmp_path / "model"), exe, scope=mg.Scope())
    ckpt, mdir = snapshot(tmp_path / "ckpt"), snapshot(tmp_path / "model")
    exe.run(net.main, feed=dict(feed, label=np.ones((2, 3), "float32")), scope=scope)  # new values to save

    module, attr = where.split(".")
    monkeypatch.setattr(__import__(module), attr, fake)
    with pytest.raises(error):
        mgio.save_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=scope)
    with pytest.raises(error):
        mgio.save_inference_model(str(tmp_path / "model"), ["x"], [net.logits], exe, net.main, scope=scope)
    monkeypatch.undo()

    assert snapshot(tmp_path / "ckpt") == ckpt  # same files, same bytes: no temporaries left
    assert snapshot(tmp_path / "model") == mdir
    fresh = mg.Scope()
    program, _, fetches = mgio.load_inference_model(str(tmp_path / "model"), exe, scope=fresh)
    exe.run(program, feed=feed, fetch_list=fetches, scope=fresh)
    mgio.load_persistables(exe, str(tmp_path / "ckpt"), net.main, scope=mg.Scope())
    # and the next save goes through
    mgio.save_inference_model(str(tmp_path / "model"), ["x"], [net.logits], exe, net.main, scope=scope)
    assert snapshot(tmp_path / "model") != mdir


def test_an_interrupted_program_save_leaves_the_old_file(tmp_path, model, monkeypatch):
    net, exe, _ = model
    before = snapshot(tmp_path)
    monkeypatch.setattr(json, "dump", fail_json_dump)
    with pytest.raises(OSError):
        mgio.save_program(net.test, str(tmp_path / "main.json"))
    monkeypatch.undo()
    assert snapshot(tmp_path).keys() == before.keys()
    assert (tmp_path / "main.json").read_bytes() == before["main.json"]


def test_a_crash_between_the_renames_leaves_the_previous_model(tmp_path, model, monkeypatch):
    """The window of the old two-rename save (new tensors in place, old manifest still
    there, which failed its checksum): the new archive has a name of its own and the
    manifest is the only file replaced, so the old model still loads, with its own values."""
    net, exe, scope = model
    before = snapshot(tmp_path / "model")
    fresh = mg.Scope()
    mgio.load_inference_model(str(tmp_path / "model"), exe, scope=fresh)
    old = values(fresh, sorted(fresh.local_var_names()))
    exe.run(net.main, feed={"x": np.ones((2, 6), "float32"), "label": np.ones((2, 3), "float32")}, scope=scope)
    real_replace, calls = os.replace, []

    def replace_once(src, dst):
        calls.append(dst)
        if len(calls) > 1:
            raise OSError("power cut")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_once)
    with pytest.raises(OSError, match="power cut"):
        mgio.save_inference_model(str(tmp_path / "model"), ["x"], [net.logits], exe, net.main, scope=scope)
    monkeypatch.undo()
    assert calls[0].endswith(".npz") and calls[1].endswith("model.json")
    assert snapshot(tmp_path / "model") == before  # the new archive was removed, nothing else touched
    fresh = mg.Scope()
    mgio.load_inference_model(str(tmp_path / "model"), exe, scope=fresh)
    assert_same_values(values(fresh, sorted(fresh.local_var_names())), old)
