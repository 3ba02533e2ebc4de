"""Fluid-era entry points: layers.data's batch dimension, core, places, True attrs,
cross_entropy at probability 0, LoD refused, save_inference_model's fluid arguments."""

import warnings

import numpy as np
import pytest

import minigraph as mg
from minigraph import core


def _programs():
    return mg.Program(), mg.Program()


def test_layers_data_prepends_the_batch_dimension():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        assert mg.layers.data("a", [13]).shape == (-1, 13)
        assert mg.layers.data("b", [1, 28, 28], dtype="float64").shape == (-1, 1, 28, 28)
        assert mg.layers.data("c", [-1, 3]).shape == (-1, 3)
        assert mg.layers.data("d", [None, 3]).shape == (-1, 3)
        assert mg.layers.data("e", [4, 3], append_batch_size=False).shape == (4, 3)
        assert mg.layers.data("f", [2, -1]).shape == (2, -1)
        assert mg.data("g", [5]).shape == (5,)  # paddle.static.data: shape as given
        assert mg.data("h", [None, 5]).shape == (-1, 5)
        v = mg.layers.data("i", [2], stop_gradient=False)
    assert v.stop_gradient is False
    assert main.global_block().var("a").stop_gradient is True
    assert main.global_block().var("b").dtype == "float64"


@pytest.mark.parametrize("make", [lambda: mg.layers.data("s", [1], lod_level=1), lambda: mg.data("s", [1], "int64", 2)])
def test_lod_level_is_refused_naming_padding_and_a_mask(make):
    with mg.program_guard(*_programs()):
        with pytest.raises(mg.GraphBuildError, match=r"lod_level=\d.*not supported.*pad.*mask"):
            make()


def test_core_names():
    assert core.is_compiled_with_cuda() is False
    assert isinstance(core.Scope(), mg.Scope)
    assert isinstance(core.CPUPlace(), mg.CPUPlace)
    assert mg.core.CPUPlace is mg.CPUPlace
    assert len(mg.cpu_places(2)) == 2


def test_cuda_place_runs_on_the_cpu_with_one_warning():
    core._warned = False
    with pytest.warns(RuntimeWarning, match="CPU only"):
        place = mg.CUDAPlace(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mg.CUDAPlace(1)  # the second one is silent
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.layers.data("x", [2])
        y = mg.layers.scale(x, 2.0)
    exe = mg.Executor(place)
    (out,) = exe.run(main, feed={"x": np.ones((1, 2), "float32")}, fetch_list=[y])
    np.testing.assert_array_equal(out, [[2.0, 2.0]])
    with pytest.raises(ValueError, match="device_id"):
        mg.CUDAPlace(-1)


def test_true_attrs_mean_the_default_attribute():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.layers.data("x", [3])
        mg.layers.fc(x, 2, param_attr=True, bias_attr=True)
        mg.layers.batch_norm(mg.layers.data("img", [2, 4, 4]), param_attr=True, bias_attr=True)
    names = sorted(p.name for p in main.all_parameters())
    assert names == [
        "batch_norm_0.b_0",
        "batch_norm_0.w_0",
        "batch_norm_0.w_1",
        "batch_norm_0.w_2",
        "fc_0.b_0",
        "fc_0.w_0",
    ]


def test_cross_entropy_of_probability_zero_is_1e20_without_warning():
    main, startup = _programs()
    with mg.program_guard(main, startup):
        p = mg.layers.data("p", [3])
        label = mg.layers.data("label", [1], dtype="int64")
        soft = mg.layers.data("soft", [3])
        hard_ce = mg.layers.cross_entropy(p, label)
        soft_ce = mg.layers.cross_entropy(p, soft, soft_label=True)
    probs = np.array([[0.0, 0.5, 0.5], [0.2, 0.8, 0.0]], "float32")
    feed = {"p": probs, "label": np.array([[0], [1]]), "soft": np.array([[0, 0.5, 0.5], [0.5, 0, 0.5]], "float32")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hard, s = mg.Executor().run(main, feed=feed, fetch_list=[hard_ce, soft_ce], scope=mg.Scope())
    np.testing.assert_allclose(hard, [[1e20], [-np.log(0.8)]], rtol=1e-6)
    # a zero label times log(0) costs nothing; a positive one costs 1e20 per unit
    np.testing.assert_allclose(s, [[np.log(2.0)], [0.5e20]], rtol=1e-6)


def _trained_fc(tmp_path):
    main, startup = _programs()
    with mg.program_guard(main, startup):
        x = mg.layers.data("x", [3])
        y = mg.layers.fc(x, 2, act="softmax")
        test = main.clone(for_test=True)
    scope = mg.Scope()
    exe = mg.Executor()
    exe.run(startup, scope=scope)
    return main, test, x, y, exe, scope


def test_save_inference_model_resolves_targets_by_name_in_a_test_clone(tmp_path):
    main, test, x, y, exe, scope = _trained_fc(tmp_path)
    mg.io.save_inference_model(str(tmp_path / "m"), ["x"], [y], exe, test, "__model__", "p", scope=scope)
    program, feeds, fetches = mg.io.load_inference_model(
        str(tmp_path / "m"), exe, model_filename="__model__", params_filename="p", scope=scope
    )
    xb = np.arange(6, dtype="float32").reshape(2, 3)
    (want,) = exe.run(test, feed={"x": xb}, fetch_list=[y.name], scope=scope)
    (got,) = exe.run(program, feed={feeds[0]: xb}, fetch_list=fetches, scope=scope)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert feeds == ["x"] and fetches[0].name == y.name


def test_save_inference_model_still_refuses_a_variable_main_program_lacks(tmp_path):
    main, test, x, y, exe, scope = _trained_fc(tmp_path)
    other_main, other_startup = _programs()
    with mg.program_guard(other_main, other_startup):
        stray = mg.layers.data("stray", [1])
    with pytest.raises(ValueError, match="another program"):
        mg.io.save_inference_model(str(tmp_path / "m"), ["x"], [stray], exe, main_program=test, scope=scope)
    with pytest.raises(TypeError, match="model_filename"):
        mg.io.save_inference_model(str(tmp_path / "m"), ["x"], [y], exe, main_program=test, model_filename=3)
