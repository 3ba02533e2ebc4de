"""Saving and loading (minigraph.io): checkpoints, programs and inference models round trip
exactly, and the exported inference program holds only what inference needs."""

from __future__ import annotations

import importlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

import minigraph as mg
from minigraph import io as mgio
from minigraph.initializer import Constant, Normal
from minigraph.passes.prune import prune

# Layers and optimizers colleagues are landing: use them when present, else a stand-in
# that exercises the same kind of persistable (a non-trainable parameter updated by the
# program, a hand-built momentum update with its velocity accumulators).
batch_norm = getattr(mg.layers, "batch_norm", None)
dropout = getattr(mg.layers, "dropout", None)


def momentum_class():
    try:
        return getattr(importlib.import_module("minigraph.optimizer"), "Momentum", None)
    except ImportError:
        return None


class Net:
    """A small regression network: fc -> batch_norm (or a stand-in) -> dropout -> fc."""

    def __init__(self) -> None:
        self.main, self.startup = mg.Program(), mg.Program()
        with mg.program_guard(self.main, self.startup):
            self.x = mg.data("x", shape=[None, 6], dtype="float32")
            self.label = mg.data("label", shape=[None, 3], dtype="float32")
            w = mg.ParamAttr(initializer=Normal(0.0, 0.5, seed=11))
            h = mg.layers.fc(self.x, size=5, param_attr=w, act="relu")
            if batch_norm is not None:
                h = batch_norm(h, moving_mean_name="bn_mean", moving_variance_name="bn_var")
                self.stats = ["bn_mean", "bn_var"]
            else:  # a statistic-like persistable the program updates in place
                stat_attr = mg.ParamAttr(name="stat", trainable=False, initializer=Constant(0.0))
                stat = mg.create_parameter([5], "float32", attr=stat_attr)
                h = h + stat
                self.stats = ["stat"]
            if dropout is not None:
                h = dropout(h, dropout_prob=0.25, seed=5)
            self.hidden = h
            self.logits = mg.layers.fc(h, size=3, param_attr=mg.ParamAttr(initializer=Normal(0.0, 0.5, seed=12)))
            diff = self.logits - self.label
            self.loss = mg.layers.mean(diff * diff)
            self.test = self.main.clone(for_test=True)
            if batch_norm is None:  # training (only) moves the statistic
                stat_update = {"scale": 0.5, "bias": 1.0}
                self.main.global_block().append_op("scale", {"X": "stat"}, {"Out": "stat"}, stat_update)
            momentum = momentum_class()
            if momentum is not None:
                momentum(0.05, momentum=0.9).minimize(self.loss)
            else:
                self._hand_momentum()

    def _hand_momentum(self) -> None:
        lr = mg.create_global_var([1], 0.05, "float32", persistable=True, name="learning_rate_0")
        block = self.main.global_block()
        for param, grad in mg.append_backward(self.loss):
            vel = mg.create_global_var(param.shape, 0.0, "float32", persistable=True, name=f"{param.name}_velocity_0")
            block.append_op(
                "momentum",
                {"Param": param, "Grad": grad, "Velocity": vel, "LearningRate": lr},
                {"ParamOut": param, "VelocityOut": vel},
                {"mu": 0.9},
                role=mg.OpRole.OPTIMIZE,
            )

    def persistable_names(self) -> list[str]:
        return sorted({v.name for v in self.main.list_vars() if v.persistable})


def batch(seed: int = 0, n: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(n, 6)).astype("float32"),
        "label": rng.normal(size=(n, 3)).astype("float32"),
    }


def trained(steps: int = 3) -> tuple[Net, mg.Executor, mg.Scope]:
    net, exe, scope = Net(), mg.Executor(), mg.Scope()
    exe.run(net.startup, scope=scope)
    for step in range(steps):
        exe.run(net.main, feed=batch(step), scope=scope)
    return net, exe, scope


def archive_of(directory, manifest: str = "persistables.json") -> Path:
    """The tensor archive a saved manifest names (its file name is content-addressed)."""
    doc = json.loads((Path(directory) / manifest).read_text())
    return Path(directory) / (doc["params"] if "params" in doc else doc)["file"]


def values(scope: mg.Scope, names: list[str]) -> dict[str, np.ndarray]:
    return {n: np.array(scope.find_var(n).get_tensor()) for n in names}


def assert_same_values(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for n in a:
        assert a[n].dtype == b[n].dtype and a[n].shape == b[n].shape, n
        assert np.array_equal(a[n], b[n]), n


# --- persistables ------------------------------------------------------------------------


def test_persistables_cover_parameters_statistics_and_optimizer_state():
    net, _, _ = trained(0)
    names = net.persistable_names()
    assert "fc_0.w_0" in names and "fc_1.b_0" in names
    assert set(net.stats) <= set(names)
    trainable = [p.name for p in net.main.all_parameters() if p.trainable]
    assert {f"{p}_velocity_0" for p in trainable} <= set(names)  # momentum's accumulators
    assert any(n.startswith("learning_rate") for n in names)


def test_persistables_round_trip_after_clobbering(tmp_path):
    net, exe, scope = trained(3)
    names = net.persistable_names()
    saved = values(scope, names)
    stat = saved[net.stats[0]]
    assert not np.array_equal(stat, np.zeros_like(stat))  # training moved the statistics
    velocity = [n for n in names if "velocity" in n][0]
    assert np.any(saved[velocity] != 0)
    feed = batch(10)
    (before,) = exe.run(net.test, feed=feed, fetch_list=[net.logits], scope=scope)

    mgio.save_persistables(exe, str(tmp_path), net.main, scope=scope)
    assert sorted(os.listdir(tmp_path)) == sorted(["persistables.json", archive_of(tmp_path).name])
    assert re.fullmatch(r"persistables\.[0-9a-f]{16}\.npz", archive_of(tmp_path).name)
    for n, a in saved.items():  # clobber every persistable
        scope.var(n).set(np.full_like(a, 7))
    mgio.load_persistables(exe, str(tmp_path), net.main, scope=scope)

    assert_same_values(values(scope, names), saved)
    (after,) = exe.run(net.test, feed=feed, fetch_list=[net.logits], scope=scope)
    assert np.array_equal(before, after)


def test_restored_checkpoint_continues_training_identically(tmp_path):
    net, exe, scope = trained(2)
    mgio.save_persistables(exe, tmp_path, net.main, scope=scope)  # a Path works too
    fresh = mg.Scope()  # no startup run: everything must come from the checkpoint
    mgio.load_persistables(exe, tmp_path, net.main, scope=fresh)
    names = net.persistable_names()
    for step in range(2, 4):
        (a,) = exe.run(net.main, feed=batch(step), fetch_list=[net.loss], scope=scope)
        (b,) = exe.run(net.main, feed=batch(step), fetch_list=[net.loss], scope=fresh)
        assert np.array_equal(a, b)
    assert_same_values(values(fresh, names), values(scope, names))


def test_manifest_records_names_dtypes_shapes_and_version(tmp_path):
    net, exe, scope = trained(1)
    mgio.save_persistables(exe, str(tmp_path), net.main, scope=scope)
    doc = json.loads((tmp_path / "persistables.json").read_text())
    assert doc["format"] == "minigraph.persistables" and doc["version"] == 1
    assert doc["file"] == f"persistables.{doc['sha256'][:16]}.npz" and len(doc["sha256"]) == 64
    entries = {t["name"]: t for t in doc["tensors"]}
    assert sorted(entries) == net.persistable_names()
    assert entries["fc_0.w_0"]["dtype"] == "float32" and entries["fc_0.w_0"]["shape"] == [6, 5]
    with np.load(tmp_path / doc["file"], allow_pickle=False) as z:
        assert sorted(z.files) == sorted(t["key"] for t in doc["tensors"])


def test_default_program_and_global_scope(tmp_path):
    net = Net()
    exe = mg.Executor()
    with mg.scope_guard(mg.Scope()), mg.program_guard(net.main, net.startup):
        exe.run(net.startup)
        exe.run(net.main, feed=batch(0))
        saved = values(mg.global_scope(), net.persistable_names())
        mgio.save_persistables(exe, str(tmp_path))
    with mg.scope_guard(mg.Scope()), mg.program_guard(net.main, net.startup):
        mgio.load_persistables(exe, str(tmp_path))
        assert_same_values(values(mg.global_scope(), net.persistable_names()), saved)


def test_training_checkpoint_loads_into_its_test_program(tmp_path):
    net, exe, scope = trained(2)
    feed = batch(4)
    (before,) = exe.run(net.test, feed=feed, fetch_list=[net.logits], scope=scope)
    mgio.save_persistables(exe, str(tmp_path), net.main, scope=scope)
    fresh = mg.Scope()
    mgio.load_persistables(exe, str(tmp_path), net.test, scope=fresh)  # extra tensors are ignored
    assert fresh.find_var("learning_rate_0") is None
    (after,) = exe.run(net.test, feed=feed, fetch_list=[net.logits], scope=fresh)
    assert np.array_equal(before, after)


def test_custom_filename_and_a_mismatched_one(tmp_path):
    net, exe, scope = trained(1)
    mgio.save_persistables(exe, str(tmp_path), net.main, filename="ckpt.npz", scope=scope)
    assert sorted(os.listdir(tmp_path)) == [archive_of(tmp_path, "ckpt.json").name, "ckpt.json"]
    with pytest.raises(mgio.ModelFileNotFoundError, match=r"persistables\.json.*ckpt\.json"):
        mgio.load_persistables(exe, str(tmp_path), net.main, scope=mg.Scope())
    with pytest.raises(FileNotFoundError):  # also an ordinary FileNotFoundError
        mgio.load_persistables(exe, str(tmp_path), net.main, scope=mg.Scope())
    mgio.load_persistables(exe, str(tmp_path), net.main, filename="ckpt.npz", scope=mg.Scope())
    with pytest.raises(ValueError, match="plain file name"):
        mgio.save_persistables(exe, str(tmp_path), net.main, filename="sub/ckpt.npz", scope=scope)


def test_uninitialized_persistables_are_recorded_and_refused_unless_partial_loads_are_allowed(tmp_path):
    net, exe, scope = trained(1)
    with mg.program_guard(net.main, net.startup):
        net.main.global_block().create_var("later", (2,), "float32", persistable=True)
    mgio.save_persistables(exe, str(tmp_path), net.main, scope=scope)
    doc = json.loads((tmp_path / "persistables.json").read_text())
    assert doc["uninitialized"] == ["later"]
    fresh = mg.Scope()
    with pytest.raises(
        mg.ModelFormatError, match=r"persistables\.json: the checkpoint has no value for 'later'.*allow_partial=True"
    ):
        mgio.load_persistables(exe, str(tmp_path), net.main, scope=fresh)
    assert fresh.local_var_names() == []
    mgio.load_persistables(exe, str(tmp_path), net.main, scope=fresh, allow_partial=True)
    assert fresh.find_var("later") is None
    assert fresh.find_var("fc_0.w_0") is not None


def test_saving_before_the_startup_program_is_refused(tmp_path):
    net = Net()
    with pytest.raises(ValueError, match="run the startup program"):
        mgio.save_persistables(mg.Executor(), str(tmp_path), net.main, scope=mg.Scope())
    assert os.listdir(tmp_path) == []


def test_a_value_that_disagrees_with_its_declaration_is_refused_when_saving(tmp_path):
    net, exe, scope = trained(1)
    scope.var("fc_0.b_0").set(np.zeros((4,), "float32"))
    with pytest.raises(ValueError, match=r"fc_0\.b_0.*float32\[4\].*float32\[5\]"):
        mgio.save_persistables(exe, str(tmp_path), net.main, scope=scope)


# --- programs ----------------------------------------------------------------------------


def test_program_round_trip(tmp_path):
    net, exe, scope = trained(1)
    path = str(tmp_path / "main.json")
    mgio.save_program(net.main, path)
    loaded = mgio.load_program(path)
    assert str(loaded) == str(net.main)
    assert json.loads(open(path).read())["version"] == 1
    twin = mg.Scope()
    for n, a in values(scope, net.persistable_names()).items():
        twin.var(n).set(a)
    (a,) = exe.run(net.main, feed=batch(5), fetch_list=[net.loss], scope=scope)
    (b,) = exe.run(loaded, feed=batch(5), fetch_list=[net.loss.name], scope=twin)
    assert np.array_equal(a, b)
    assert_same_values(values(twin, net.persistable_names()), values(scope, net.persistable_names()))


def test_load_program_fills_missing_attrs_with_defaults(tmp_path):
    net = Net()
    path = tmp_path / "main.json"
    mgio.save_program(net.main, str(path))
    doc = json.loads(path.read_text())
    op = next(o for o in doc["blocks"][0]["ops"] if o["type"] == "mul")
    del op["attrs"]["y_num_col_dims"]  # as if saved before the attribute existed
    path.write_text(json.dumps(doc))
    loaded = mgio.load_program(str(path))
    mul = next(o for o in loaded.global_block().ops if o.type == "mul")
    assert mul.attr("y_num_col_dims") == 1


def test_saved_files_leave_no_temporaries(tmp_path):
    net, exe, scope = trained(1)
    mgio.save_persistables(exe, str(tmp_path), net.main, scope=scope)
    mgio.save_persistables(exe, str(tmp_path), net.main, scope=scope)  # overwrite in place
    mgio.save_inference_model(str(tmp_path / "m"), ["x"], [net.logits], exe, net.main, scope=scope)
    mgio.save_program(net.main, str(tmp_path / "p.json"))
    assert sorted(os.listdir(tmp_path)) == sorted(["m", "p.json", "persistables.json", archive_of(tmp_path).name])
    assert sorted(os.listdir(tmp_path / "m")) == sorted(["model.json", archive_of(tmp_path / "m", "model.json").name])
    if os.name == "posix":  # the usual permissions, not mkstemp's 0600
        mask = os.umask(0)
        os.umask(mask)
        assert os.stat(tmp_path / "p.json").st_mode & 0o777 == 0o666 & ~mask


# --- inference models --------------------------------------------------------------------


def test_inference_model_round_trip_matches_the_test_program(tmp_path):
    net, exe, scope = trained(3)
    feed = batch(7)
    (expected,) = exe.run(net.test, feed=feed, fetch_list=[net.logits], scope=scope)
    fetch_names = mgio.save_inference_model(str(tmp_path), ["x"], [net.logits], exe, net.main, scope=scope)
    assert fetch_names == [net.logits.name]

    fresh = mg.Scope()
    program, feeds, fetches = mgio.load_inference_model(str(tmp_path), exe, scope=fresh)
    assert feeds == ["x"]
    assert [v.name for v in fetches] == [net.logits.name]
    assert all(isinstance(v, mg.Variable) and v.block.program is program for v in fetches)
    (got,) = exe.run(program, feed={"x": feed["x"]}, fetch_list=fetches, scope=fresh)
    assert np.array_equal(got, expected)
    # Running the inference program changes no persistable (test mode everywhere).
    before = values(fresh, sorted(fresh.local_var_names()))
    exe.run(program, feed={"x": feed["x"]}, fetch_list=fetches, scope=fresh)
    assert_same_values(values(fresh, sorted(fresh.local_var_names())), before)


def test_inference_program_holds_only_what_inference_needs(tmp_path):
    net, exe, scope = trained(1)
    mgio.save_inference_model(str(tmp_path), [net.x], [net.logits.name], exe, net.main, scope=scope)
    program, _, _ = mgio.load_inference_model(str(tmp_path), exe, scope=mg.Scope())
    block = program.global_block()
    op_types = [op.type for op in block.ops]
    assert not [t for t in op_types if t.endswith("_grad")]
    assert not set(op_types) & {"sgd", "momentum", "adam", "mean", "elementwise_sub", "fill_constant", "sum"}
    assert not [n for n in block.vars if "@GRAD" in n]
    assert "label" not in block.vars and net.loss.name not in block.vars
    assert not [n for n in block.vars if "velocity" in n or "learning_rate" in n]
    with_is_test = [op for op in block.ops if op.has_attr("is_test")]
    assert all(op.attr("is_test") is True for op in with_is_test)
    if batch_norm is not None or dropout is not None:
        assert with_is_test
    used = {n for op in block.ops for n in op.input_arg_names + op.output_arg_names}
    assert set(block.vars) == used
    with np.load(archive_of(tmp_path, "model.json"), allow_pickle=False) as z:
        saved = set(z.files)
    persistables = {v.name for v in block.vars.values() if v.persistable}
    assert saved == persistables
    assert {"fc_0.w_0", "fc_0.b_0", "fc_1.w_0", "fc_1.b_0", *net.stats} <= saved
    doc = json.loads((tmp_path / "model.json").read_text())
    assert doc["format"] == "minigraph.inference_model" and doc["version"] == 1
    assert doc["feed"] == ["x"] and doc["fetch"] == [net.logits.name]


def test_inference_model_from_the_test_program_or_the_training_program_agree(tmp_path):
    net, exe, scope = trained(2)
    mgio.save_inference_model(str(tmp_path / "a"), ["x"], [net.logits], exe, net.main, scope=scope)
    mgio.save_inference_model(str(tmp_path / "b"), ["x"], [net.logits.name], exe, net.test, scope=scope)
    pa, _, _ = mgio.load_inference_model(str(tmp_path / "a"), exe, scope=mg.Scope())
    pb, _, _ = mgio.load_inference_model(str(tmp_path / "b"), exe, scope=mg.Scope())
    assert str(pa) == str(pb)


def test_inference_model_uses_the_global_scope_by_default(tmp_path):
    net = Net()
    exe = mg.Executor()
    feed = batch(3)
    with mg.scope_guard(mg.Scope()):
        exe.run(net.startup)
        exe.run(net.main, feed=batch(0))
        (expected,) = exe.run(net.test, feed=feed, fetch_list=[net.logits])
        mgio.save_inference_model(str(tmp_path), ["x"], [net.logits], exe, main_program=net.main)
    with mg.scope_guard(mg.Scope()):
        program, feeds, fetches = mgio.load_inference_model(str(tmp_path), exe)
        (got,) = exe.run(program, feed={feeds[0]: feed["x"]}, fetch_list=fetches)
    assert np.array_equal(got, expected)


def test_an_intermediate_variable_can_be_fed(tmp_path):
    net, exe, scope = trained(1)
    feed = batch(2)
    hidden, expected = exe.run(net.test, feed=feed, fetch_list=[net.hidden, net.logits], scope=scope)
    mgio.save_inference_model(str(tmp_path), [net.hidden.name], [net.logits], exe, net.main, scope=scope)
    fresh = mg.Scope()
    program, feeds, fetches = mgio.load_inference_model(str(tmp_path), exe, scope=fresh)
    assert "x" not in program.global_block().vars and "fc_0.w_0" not in program.global_block().vars
    (got,) = exe.run(program, feed={feeds[0]: hidden}, fetch_list=fetches, scope=fresh)
    assert np.array_equal(got, expected)


def test_pruning_keeps_in_place_ops():
    """A relu writing its own input keeps the op that produced that input (Paddle#12683)."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 3], dtype="float32")
        h = mg.layers.fc(x, size=3, param_attr=mg.ParamAttr(initializer=Constant(-0.5)))
        main.global_block().append_op("relu", {"X": h}, {"Out": h})
    pruned = prune(main, ["x"], [h.name]).program
    assert [op.type for op in pruned.global_block().ops] == ["mul", "elementwise_add", "relu"]


def test_in_place_batch_norm_over_a_fed_variable(tmp_path):
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 4], dtype="float32")
        y = batch_norm(x, in_place=True)
    assert y.name == "x"
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    xb = batch(1)["x"][:, :4]
    (expected,) = exe.run(main.clone(for_test=True), feed={"x": xb}, fetch_list=[y], scope=scope)
    mgio.save_inference_model(str(tmp_path), ["x"], [y], exe, main, scope=scope)
    fresh = mg.Scope()
    program, feeds, fetches = mgio.load_inference_model(str(tmp_path), exe, scope=fresh)
    assert [op.type for op in program.global_block().ops] == ["batch_norm"]
    (got,) = exe.run(program, feed={"x": xb}, fetch_list=fetches, scope=fresh)
    assert np.array_equal(got, expected)


def test_a_target_needing_an_unfed_data_variable_is_refused(tmp_path):
    net, exe, scope = trained(1)
    with pytest.raises(mg.FeedError, match=r"needs data variable 'label'.*feed list \['x'\]"):
        mgio.save_inference_model(str(tmp_path), ["x"], [net.loss], exe, net.main, scope=scope)
    assert not os.listdir(tmp_path)


def test_a_feed_the_targets_do_not_use_is_refused(tmp_path):
    net, exe, scope = trained(1)
    with pytest.raises(mg.FeedError, match=r"\['label'\] are not involved in computing the targets"):
        mgio.save_inference_model(str(tmp_path), ["x", "label"], [net.logits], exe, net.main, scope=scope)


def test_bad_feeds_and_targets_are_refused(tmp_path):
    net, exe, scope = trained(1)
    other = Net()
    d = str(tmp_path)
    with pytest.raises(mg.FeedError, match="'xx'.*did you mean 'x'"):
        mgio.save_inference_model(d, ["xx"], [net.logits], exe, net.main, scope=scope)
    with pytest.raises(mg.FetchError, match="'nope'"):
        mgio.save_inference_model(d, ["x"], ["nope"], exe, net.main, scope=scope)
    with pytest.raises(ValueError, match="another program"):
        mgio.save_inference_model(d, ["x"], [other.logits], exe, net.main, scope=scope)
    with pytest.raises(TypeError, match="target_vars"):
        mgio.save_inference_model(d, ["x"], [3], exe, net.main, scope=scope)
    with pytest.raises(ValueError, match="more than once"):
        mgio.save_inference_model(d, ["x", "x"], [net.logits], exe, net.main, scope=scope)
    with pytest.raises(mg.UninitializedVariableError, match="fc_0.w_0"):
        mgio.save_inference_model(d, ["x"], [net.logits], exe, net.main, scope=mg.Scope())
    assert not os.listdir(tmp_path)
