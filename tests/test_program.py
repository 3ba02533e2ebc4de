"""The IR: naming, flags, clone, text form (golden) and the JSON round trip."""

import json
from pathlib import Path

import numpy as np
import pytest

import minigraph as mg
from minigraph.initializer import Constant

GOLDEN = Path(__file__).parent / "golden"


def build_fc_program():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 4], dtype="float32")
        h = mg.layers.fc(x, size=3, param_attr=mg.ParamAttr(initializer=Constant(0.5)))
        y = h * h + 1.0
        loss = mg.layers.mean(y)
        mg.append_backward(loss)
    return main, startup, loss


def test_paddle_names_and_flags():
    main, startup, loss = build_fc_program()
    block = main.global_block()
    assert list(block.vars)[:5] == ["x", "fc_0.w_0", "fc_0.tmp_0", "fc_0.b_0", "fc_0.tmp_1"]
    x = block.var("x")
    assert x.shape == (-1, 4) and x.dtype == "float32" and x.stop_gradient and not x.persistable
    w = block.var("fc_0.w_0")
    assert isinstance(w, mg.Parameter) and w.persistable and w.trainable and not w.stop_gradient
    assert w.optimize_attr == {"learning_rate": 1.0} and w.do_model_average and w.need_clip
    assert loss.shape == () and loss.name == "mean_0.tmp_0"
    assert [op.type for op in main.global_block().ops[:5]] == [
        "mul",
        "elementwise_add",
        "elementwise_mul",
        "scale",
        "mean",
    ]
    assert [p.name for p in main.all_parameters()] == ["fc_0.w_0", "fc_0.b_0"]
    # startup: one initializer per parameter
    assert [op.type for op in startup.global_block().ops] == ["fill_constant", "fill_constant"]


def test_two_identical_programs_get_identical_names():
    a, _, _ = build_fc_program()
    b, _, _ = build_fc_program()
    assert str(a) == str(b)


def test_block_var_missing_raises_keyerror():
    main, _, _ = build_fc_program()
    with pytest.raises(KeyError, match="nope"):
        main.global_block().var("nope")
    assert not main.global_block().has_var("nope")


def test_unique_name_generate_and_guard():
    main = mg.Program()
    with mg.program_guard(main):
        assert mg.unique_name.generate("fc") == "fc_0"
        assert mg.unique_name.generate("fc") == "fc_1"
        assert mg.unique_name.generate("foo.w") == "foo.w_0"
        with mg.unique_name.guard():
            assert mg.unique_name.generate("fc") == "fc_0"
        assert mg.unique_name.generate("fc") == "fc_2"


def test_program_guard_restores_defaults():
    before = mg.default_main_program()
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        assert mg.default_main_program() is main and mg.default_startup_program() is startup
    assert mg.default_main_program() is before


def test_text_form_golden():
    main, _, _ = build_fc_program()
    text = str(main)
    golden = GOLDEN / "fc_backward_program.txt"
    if not golden.exists():  # first run writes it; review and commit the file
        golden.write_text(text)
    assert text == golden.read_text()


def test_op_accessors():
    main, _, _ = build_fc_program()
    op = main.global_block().ops[0]
    assert op.type == "mul" and op.input("X") == ["x"] and op.output("Out") == ["fc_0.tmp_0"]
    assert op.input_names == ["X", "Y"] and op.output_names == ["Out"]
    assert op.attr("x_num_col_dims") == 1 and op.has_attr("y_num_col_dims") and not op.has_attr("nope")
    v0 = main.version
    op._set_attr("x_num_col_dims", 1)
    assert main.version > v0


def test_clone_for_test_drops_backward_and_sets_is_test():
    main, _, _ = build_fc_program()
    test = main.clone(for_test=True)
    types = [op.type for op in test.global_block().ops]
    assert types == ["mul", "elementwise_add", "elementwise_mul", "scale", "mean"]
    assert not any("@GRAD" in n for n in test.global_block().vars)
    full = main.clone()
    assert str(full) == str(main)


def test_json_round_trip_gives_identical_text_and_results():
    main, startup, loss = build_fc_program()
    data = json.loads(json.dumps(main.to_dict()))
    loaded = mg.Program.from_dict(data)
    assert str(loaded) == str(main)
    exe = mg.Executor()
    scope = mg.Scope()
    exe.run(startup, scope=scope)
    x = np.arange(8, dtype="float32").reshape(2, 4) / 10
    fetch = [loss.name, "fc_0.w_0@GRAD"]
    a = exe.run(main, feed={"x": x}, fetch_list=fetch, scope=scope)
    b = exe.run(loaded, feed={"x": x}, fetch_list=fetch, scope=scope)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_json_missing_attr_gets_default_and_bad_attr_type_is_refused():
    main, _, _ = build_fc_program()
    data = main.to_dict()
    del data["blocks"][0]["ops"][0]["attrs"]["y_num_col_dims"]
    assert mg.Program.from_dict(data).global_block().ops[0].attr("y_num_col_dims") == 1
    data["blocks"][0]["ops"][0]["attrs"]["x_num_col_dims"] = "one"
    with pytest.raises(mg.ModelFormatError, match="mul.*x_num_col_dims"):
        mg.Program.from_dict(data)
    data = main.to_dict()
    data["blocks"][0]["ops"][1]["type"] = "elementwise_frobnicate"
    with pytest.raises(mg.ModelFormatError, match="elementwise_frobnicate"):
        mg.Program.from_dict(data)


def test_variable_operators_append_ops():
    main = mg.Program()
    with mg.program_guard(main):
        a = mg.data("a", [2, 3])
        b = mg.data("b", [3, 2])
        outs = [a + 1.0, a - a, a * 2.0, a / 4.0, -a, a @ b, 3.0 - a]
    types = [op.type for op in main.global_block().ops]
    assert types == ["scale", "elementwise_sub", "scale", "scale", "scale", "matmul", "scale"]
    assert outs[5].shape == (2, 2) and outs[0].name == "tmp_0"
    exe = mg.Executor()
    av = np.arange(6, dtype="float32").reshape(2, 3)
    bv = np.ones((3, 2), "float32")
    res = exe.run(main, feed={"a": av, "b": bv}, fetch_list=outs, scope=mg.Scope())
    want = [av + 1, av - av, av * 2, av / 4, -av, av @ bv, 3 - av]
    for r, w in zip(res, want):
        np.testing.assert_allclose(r, w, rtol=1e-6)


def test_matmul_inner_dim_mismatch_raises_at_build_time():
    main = mg.Program()
    with mg.program_guard(main):
        a = mg.data("a", [None, 3])
        b = mg.data("b", [4, 5])
        with pytest.raises(mg.GraphBuildError, match=r"matmul.*a.*\[-1, 3\].*b.*\[4, 5\]"):
            mg.layers.matmul(a, b)


def test_elementwise_dtype_mismatch_raises():
    main = mg.Program()
    with mg.program_guard(main):
        a = mg.data("a", [2], "float32")
        b = mg.data("b", [2], "float64")
        with pytest.raises(mg.GraphBuildError, match="elementwise_add.*float32.*float64"):
            mg.layers.elementwise_add(a, b)


def test_unknown_attr_and_slot_are_refused():
    main = mg.Program()
    block = main.global_block()
    block.create_var("a", [2])
    with pytest.raises(mg.GraphBuildError, match="scale.*unknown attribute.*scal"):
        block.append_op("scale", {"X": "a"}, {"Out": "b"}, {"scal": 2.0})
    with pytest.raises(mg.GraphBuildError, match="scale.*unknown input slot"):
        block.append_op("scale", {"Input": "a"}, {"Out": "b"})
    with pytest.raises(mg.GraphBuildError, match="not a variable"):
        block.append_op("scale", {"X": "zzz"}, {"Out": "b"})
    with pytest.raises(mg.GraphBuildError, match="unknown op type 'scael'.*'scale'"):
        block.append_op("scael", {"X": "a"}, {"Out": "b"})
