"""IR invariants: Program.verify() holds after every transformation (backward, minimize,
clone, prune, fold, JSON round trips) and catches each kind of broken program; program
records change only through methods that bump the version, so an Executor never runs a
stale plan."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import minigraph as mg
from minigraph.errors import GraphBuildError, OpTypeError, ReadOnlyError
from minigraph.initializer import Constant
from minigraph.ir.operator import Operator
from minigraph.optimizer import ModelAverage
from minigraph.passes import fold_batch_norm, prune

RNG = np.random.default_rng(12)


# --- real programs --------------------------------------------------------------------------


def mlp():
    """fc -> relu -> fc -> softmax_with_cross_entropy -> mean, trained with Adam."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 4], dtype="float32")
        label = mg.data("label", shape=[None, 1], dtype="int64")
        h = mg.layers.fc(x, size=8, act="relu")
        logits = mg.layers.fc(h, size=3)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        stages = {"forward": main.clone()}
        test = main.clone(for_test=True)
        mg.optimizer.Adam(0.01).minimize(loss)
    feed = {"x": RNG.normal(size=(5, 4)).astype("float32"), "label": RNG.integers(0, 3, (5, 1))}
    return main, startup, test, stages, logits, feed


def cnn():
    """conv2d -> batch_norm(relu) -> fc, Momentum, then ModelAverage (the API example)."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 3, 8, 8], dtype="float32")
        label = mg.data("label", shape=[None, 1], dtype="int64")
        h = mg.layers.conv2d(x, num_filters=4, filter_size=3, padding=1)
        h = mg.layers.batch_norm(h, act="relu", moving_mean_name="bn_mean", moving_variance_name="bn_var")
        logits = mg.layers.fc(h, size=10)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        stages = {"forward": main.clone()}
        test = main.clone(for_test=True)
        mg.optimizer.Momentum(0.1, momentum=0.9).minimize(loss)
        stages["minimized"] = main.clone()
        ModelAverage(0.15, min_average_window=2, max_average_window=10)
    feed = {"x": RNG.normal(size=(2, 3, 8, 8)).astype("float32"), "label": RNG.integers(0, 10, (2, 1))}
    return main, startup, test, stages, logits, feed


def in_place_bn():
    """batch_norm with in_place=True after fc: an op that writes its own input."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 6], dtype="float32")
        h = mg.layers.fc(x, size=5)
        h = mg.layers.batch_norm(h, in_place=True)
        loss = mg.layers.mean(mg.layers.fc(h, size=2))
        stages = {"forward": main.clone()}
        test = main.clone(for_test=True)
        mg.optimizer.SGD(0.1).minimize(loss)
    feed = {"x": RNG.normal(size=(4, 6)).astype("float32")}
    return main, startup, test, stages, h, feed


BUILDERS = {"mlp": mlp, "cnn": cnn, "in_place_bn": in_place_bn}


@pytest.mark.parametrize("name", BUILDERS)
def test_verify_holds_after_every_transformation(name, tmp_path):
    main, startup, test, stages, out, feed = BUILDERS[name]()
    for stage in stages.values():
        assert stage.verify() is None
    for program in (main, startup, test, main.clone(), main.clone(for_test=True)):
        assert program.verify() is None
    data = json.loads(json.dumps(main.to_dict()))
    mg.Program.from_dict(data).verify()
    mg.io.save_program(test, tmp_path / "test.json")
    mg.io.load_program(tmp_path / "test.json").verify()
    feeds = [n for n in feed if n != "label"]
    pruned = prune(test, feeds, [out.name]).program
    pruned.verify()
    scope = mg.Scope()
    mg.Executor().run(startup, scope=scope)
    fold_batch_norm(test, scope, keep=[out.name]).verify()


def test_verify_holds_after_append_backward_and_gradients():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 4], dtype="float32")
        x.stop_gradient = False
        h = mg.layers.fc(x, size=3, act="tanh")
        loss = mg.layers.mean(h * h)
        mg.gradients([loss], [x])
        main.verify()
        mg.append_backward(loss)
        main.verify()


def test_verify_accepts_a_program_pruned_at_an_intermediate_variable():
    main, _, _, _, logits, _ = mlp()
    test = main.clone(for_test=True)
    hidden = next(op for op in test.global_block().ops if op.type == "relu").output("Out")[0]
    pruned = prune(test, [hidden], [logits.name]).program
    with pytest.raises(GraphBuildError, match="read before any op writes it"):
        pruned.verify()
    pruned.verify(feed_names=[hidden])


def test_fold_result_verifies_and_changed_the_version_of_nothing_else():
    main, startup, test, _, out, feed = cnn()
    scope = mg.Scope()
    mg.Executor().run(startup, scope=scope)
    v0 = test.version
    folded = fold_batch_norm(test, scope, keep=[out.name])
    assert test.version == v0
    assert "batch_norm" not in [op.type for op in folded.global_block().ops]
    folded.verify()


# --- verify catches broken programs ----------------------------------------------------------


def small():
    main = mg.Program()
    with mg.program_guard(main, mg.Program()):
        x = mg.data("x", shape=[None, 3], dtype="float32")
        y = mg.layers.scale(x, scale=2.0)
        z = mg.layers.relu(y)
    return main, x, y, z


def test_verify_reports_a_read_before_write():
    main, x, y, z = small()
    block = main.global_block()
    block._remove_op(0)  # nothing writes y any more; relu still reads it
    with pytest.raises(GraphBuildError) as info:
        main.verify()
    msg = str(info.value)
    assert "1 problem" in msg
    assert f"op #0 (relu): input X={y.name!r} is read before any op writes it" in msg


def test_verify_reports_an_op_moved_before_its_producer():
    main, x, y, z = small()
    block = main.global_block()
    relu = block.ops[1]
    block._remove_op(1)
    block._add_op(relu, 0)
    with pytest.raises(GraphBuildError, match=rf"op #0 \(relu\): input X={y.name!r} is read before"):
        main.verify()


def test_verify_reports_a_wrong_recorded_shape_and_dtype():
    main, x, y, z = small()
    main.global_block().var(z.name).shape = (-1, 4)
    main.global_block().var(y.name).dtype = "float64"
    with pytest.raises(GraphBuildError) as info:
        main.verify()
    msg = str(info.value)
    assert "2 problem(s)" in msg
    assert (
        f"op #0 (scale): output Out={y.name!r} is recorded as float64[-1, 3], but shape inference gives float32[-1, 3]"
        in msg
    )
    # relu infers from its (wrongly recorded) input: both its shape and its dtype disagree
    assert (
        f"op #1 (relu): output Out={z.name!r} is recorded as float32[-1, 4], but shape inference gives float64[-1, 3]"
        in msg
    )


def test_verify_treats_unknown_dims_as_wildcards():
    main, x, y, z = small()
    main.global_block().var(z.name).shape = (5, 3)  # a known batch where inference says -1
    main.verify()
    main.global_block().var(z.name).shape = (5, 3, 1)  # but never a different rank
    with pytest.raises(GraphBuildError, match="recorded as float32\\[5, 3, 1\\]"):
        main.verify()


def test_verify_reports_bad_attrs_and_slots():
    main, x, y, z = small()
    block = main.global_block()
    bad = Operator(block, "scale", {"X": [x.name]}, {"Out": [y.name]}, {"scale": "two", "bias": 0.0, "colour": 1})
    block._add_op(bad)
    unwired = Operator(block, "relu", {}, {"Out": [z.name], "Extra": [y.name]}, {})
    block._add_op(unwired)
    with pytest.raises(GraphBuildError) as info:
        main.verify()
    msg = str(info.value)
    assert "op #2 (scale): unknown attribute 'colour'" in msg
    assert "op #2 (scale): attribute 'scale' must be float, got 'two'" in msg
    assert "op #2 (scale): attribute 'bias_after_scale' is missing" in msg
    assert "op #3 (relu): unknown output slot 'Extra'" in msg
    assert "op #3 (relu): required input slot 'X' is not wired" in msg


def test_verify_reports_an_unknown_variable_and_op_type():
    main, x, y, z = small()
    block = main.global_block()
    block._add_op(Operator(block, "relu", {"X": ["ghost"]}, {"Out": [z.name]}, {}))
    block._add_op(Operator(block, "no_such_op", {}, {}, {}))
    with pytest.raises(GraphBuildError) as info:
        main.verify()
    msg = str(info.value)
    assert "op #2 (relu): 'ghost' is not a variable of the program" in msg
    assert "op #3 (no_such_op): unknown op type 'no_such_op'" in msg


# --- records change only through version-bumping methods -----------------------------------


def scale_program():
    main = mg.Program()
    with mg.program_guard(main, mg.Program()):
        x = mg.data("x", shape=[None, 2], dtype="float32")
        out = mg.layers.scale(x, scale=2.0, bias=1.0)
    return main, out


def test_set_attr_changes_the_next_run_of_the_same_executor():
    main, out = scale_program()
    exe = mg.Executor()
    feed = {"x": np.array([[1.0, 2.0]], dtype="float32")}
    (first,) = exe.run(main, feed=feed, fetch_list=[out], scope=mg.Scope())
    np.testing.assert_array_equal(first, [[3.0, 5.0]])
    op = main.global_block().ops[0]
    v0 = main.version
    op._set_attr("scale", 5.0)
    assert main.version > v0 and op.attr("scale") == 5.0
    (second,) = exe.run(main, feed=feed, fetch_list=[out], scope=mg.Scope())
    np.testing.assert_array_equal(second, [[6.0, 11.0]])


def test_set_attr_coerces_and_refuses_unknown_names_and_wrong_types():
    main, out = scale_program()
    op = main.global_block().ops[0]
    op._set_attr("scale", 3)  # an int for a float attribute is coerced, as at append time
    assert op.attrs["scale"] == 3.0 and isinstance(op.attrs["scale"], float)
    v0 = main.version
    with pytest.raises(GraphBuildError, match=r"op scale: unknown attribute\(s\) \['colour'\]"):
        op._set_attr("colour", 1)
    with pytest.raises(OpTypeError, match="attribute 'scale' must be float, got 'big'"):
        op._set_attr("scale", "big")
    assert main.version == v0 and op.attrs["scale"] == 3.0


def test_set_attr_reruns_shape_inference():
    main = mg.Program()
    with mg.program_guard(main, mg.Program()):
        x = mg.data("x", shape=[None, 2, 3], dtype="float32")
        y = mg.layers.transpose(x, perm=[0, 2, 1])
    op = next(op for op in main.global_block().ops if op.type == "transpose2")
    op._set_attr("axis", [0, 1, 2])
    assert main.global_block().var(y.name).shape == (-1, 2, 3)
    with pytest.raises(GraphBuildError):
        op._set_attr("axis", [0, 1])  # impossible: refused, and the op keeps its attr
    assert op.attr("axis") == [0, 1, 2]
    main.verify()


def test_op_attrs_refuse_assignment_with_a_message_naming_set_attr():
    main, out = scale_program()
    op = main.global_block().ops[0]
    with pytest.raises(ReadOnlyError, match=r"op scale are read-only; call op\._set_attr\(name, value\)"):
        op.attrs["scale"] = 5.0
    with pytest.raises(TypeError):  # ReadOnlyError is a TypeError, as for any read-only mapping
        op.attrs.update(scale=5.0)
    with pytest.raises(ReadOnlyError, match=r"_rename_input\(old, new\)"):
        op.inputs["X"] = ["y"]
    assert op.attrs["scale"] == 2.0
    # reads and copies behave like the plain dicts they were
    assert op.attrs == {"scale": 2.0, "bias": 1.0, "bias_after_scale": True}
    assert isinstance(op.attrs, dict) and json.loads(json.dumps(op.attrs))["bias"] == 1.0
    copied = copy.deepcopy(op.attrs)
    copied["scale"] = 7.0
    assert type(copied) is dict and op.attrs["scale"] == 2.0
    assert dict(op.inputs) == {"X": ("x",)} and op.input("X") == ["x"]


def test_block_vars_and_ops_are_read_only_views():
    main, out = scale_program()
    block = main.global_block()
    with pytest.raises(TypeError):
        block.vars["w"] = block.var("x")
    with pytest.raises(ReadOnlyError, match=r"block\.append_op"):
        block.ops.append(block.ops[0])
    with pytest.raises(ReadOnlyError):
        del block.ops[0]
    # the views are live and read like the old dict and list
    assert list(block.vars) == ["x", out.name] and block.vars.get("nope") is None
    assert "x" in block.vars and [k for k, _ in block.vars.items()] == list(block.vars)
    (op,) = block.ops
    assert len(block.ops) == 1 and block.ops[-1] is op and op in block.ops and block.ops.index(op) == 0
    assert block.ops == [op] and block.ops[:1] == [op]
    block.append_op("relu", {"X": out}, {"Out": out})
    assert len(block.ops) == 2 and [o.type for o in block.ops] == ["scale", "relu"]


def test_every_block_and_operator_mutation_bumps_the_version():
    main, out = scale_program()
    block = main.global_block()
    steps = [
        lambda: block.create_var("t", shape=[2], dtype="float32"),
        lambda: block._rename_var("t", "u"),
        lambda: block._remove_var("u"),
        lambda: block.append_op("relu", {"X": out}, {"Out": out}),
        lambda: block._insert_op(0, "scale", {"X": "x"}, {"Out": "x"}, {"scale": 1.0}),
        lambda: block._remove_op(0),
        lambda: block.ops[0]._set_attr("bias", 0.0),
        lambda: block.create_var("x2", shape=[-1, 2], dtype="float32"),
        lambda: block.ops[0]._rename_input("x", "x2"),
        lambda: block.ops[0]._rename_output(out.name, "x2"),
    ]
    for step in steps:
        v0 = main.version
        step()
        assert main.version > v0


def test_parameter_regularizer_survives_the_json_round_trip():
    main = mg.Program()
    with mg.program_guard(main, mg.Program()):
        x = mg.data("x", shape=[None, 2], dtype="float32")
        attr = mg.ParamAttr(name="w", initializer=Constant(1.0), regularizer=mg.regularizer.L2Decay(0.5))
        mg.layers.fc(x, size=2, param_attr=attr)
    loaded = mg.Program.from_dict(json.loads(json.dumps(main.to_dict())))
    assert loaded.global_block().var("w").regularizer == mg.regularizer.L2Decay(0.5)
    data = main.to_dict()
    data["blocks"][0]["vars"][1]["parameter"]["regularizer"] = {"type": "L7"}
    with pytest.raises(mg.errors.ModelFormatError, match="unknown regularizer .* known types: \\['L2Decay'\\]"):
        mg.Program.from_dict(data)
