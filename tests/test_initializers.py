"""Initializers in a startup program: the op each one appends, value statistics, the
Xavier/MSRA limits, and seeding (Program.random_seed and per-initializer seeds)."""

import math

import numpy as np
import pytest

import minigraph as mg
from minigraph.initializer import MSRA, Constant, Normal, TruncatedNormal, Uniform, Xavier


def make_params(specs, seed=0):
    """specs: [(name, shape, initializer, dtype)]; returns (startup, {name: value})."""
    main, startup = mg.Program(), mg.Program()
    startup.random_seed = seed
    with mg.program_guard(main, startup):
        for name, shape, init, dtype in specs:
            mg.create_parameter(shape, dtype, name=name, default_initializer=init)
    scope = mg.Scope()
    mg.Executor().run(startup, scope=scope)
    return startup, {s[0]: np.array(scope.find_var(s[0]).get_tensor()) for s in specs}


def init_op(startup, name):
    (op,) = [op for op in startup.global_block().ops if op.output_arg_names == [name]]
    return op


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_constant(dtype):
    startup, v = make_params([("c", (3, 4), Constant(0.25), dtype)])
    assert init_op(startup, "c").type == "fill_constant"
    assert v["c"].dtype == dtype and v["c"].shape == (3, 4)
    np.testing.assert_array_equal(v["c"], np.full((3, 4), 0.25, dtype))


def test_uniform_bounds_and_statistics():
    startup, v = make_params([("u", (100, 100), Uniform(-0.5, 1.5), "float32")], seed=1)
    op = init_op(startup, "u")
    assert op.type == "uniform_random" and op.attr("min") == -0.5 and op.attr("max") == 1.5
    u = v["u"]
    assert u.dtype == np.float32 and u.min() >= -0.5 and u.max() < 1.5
    assert u.min() < -0.45 and u.max() > 1.45  # fills the interval
    assert abs(u.mean() - 0.5) < 0.03
    assert abs(u.std() - 2.0 / math.sqrt(12)) < 0.03


def test_normal_statistics():
    startup, v = make_params([("n", (100, 100), Normal(1.0, 2.0), "float64")], seed=2)
    op = init_op(startup, "n")
    assert op.type == "gaussian_random" and op.attr("mean") == 1.0 and op.attr("std") == 2.0
    n = v["n"]
    assert n.dtype == np.float64
    assert abs(n.mean() - 1.0) < 0.06 and abs(n.std() - 2.0) < 0.06


def test_truncated_normal_stays_within_two_std():
    startup, v = make_params([("t", (100, 100), TruncatedNormal(0.5, 0.1), "float32")], seed=3)
    assert init_op(startup, "t").type == "truncated_gaussian_random"
    t = v["t"]
    assert t.min() >= 0.5 - 0.2 - 1e-6 and t.max() <= 0.5 + 0.2 + 1e-6
    assert abs(t.mean() - 0.5) < 0.005
    assert abs(t.std() - 0.1 * 0.8796) < 0.005  # std of a standard normal cut at +-2


def test_xavier_limit_for_fc_weight():
    main, startup = mg.Program(), mg.Program()
    startup.random_seed = 4
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 4])
        mg.layers.fc(x, 3)
    op = init_op(startup, "fc_0.w_0")
    limit = math.sqrt(6.0 / (4 + 3))
    assert op.type == "uniform_random"
    assert op.attr("min") == pytest.approx(-0.9258201) and op.attr("max") == pytest.approx(0.9258201)
    assert init_op(startup, "fc_0.b_0").type == "fill_constant"
    scope = mg.Scope()
    mg.Executor().run(startup, scope=scope)
    w = np.array(scope.find_var("fc_0.w_0").get_tensor())
    assert w.shape == (4, 3) and np.all(np.abs(w) <= limit)
    np.testing.assert_array_equal(np.array(scope.find_var("fc_0.b_0").get_tensor()), np.zeros(3, "float32"))


def test_xavier_and_msra_statistics():
    specs = [
        ("xu", (200, 300), Xavier(), "float32"),
        ("xn", (200, 300), Xavier(uniform=False), "float32"),
        ("mu", (32, 16, 3, 3), MSRA(), "float32"),  # conv filter: fan_in = 16 * 3 * 3
        ("mn", (32, 16, 3, 3), MSRA(uniform=False), "float32"),
    ]
    startup, v = make_params(specs, seed=5)
    xu_limit = math.sqrt(6.0 / 500)
    assert np.abs(v["xu"]).max() <= xu_limit and np.abs(v["xu"]).max() > 0.99 * xu_limit
    assert abs(v["xu"].std() - xu_limit / math.sqrt(3)) < 0.02 * xu_limit
    assert init_op(startup, "xn").type == "gaussian_random"
    assert abs(v["xn"].std() - math.sqrt(2.0 / 500)) < 0.02 * math.sqrt(2.0 / 500)
    mu_limit = math.sqrt(6.0 / 144)
    assert np.abs(v["mu"]).max() <= mu_limit and np.abs(v["mu"]).max() > 0.99 * mu_limit
    assert abs(v["mn"].std() - math.sqrt(2.0 / 144)) < 0.05 * math.sqrt(2.0 / 144)
    assert abs(v["mn"].mean()) < 0.01


# --- seeds ------------------------------------------------------------------------------

SEED_SPECS = [
    ("a", (4, 5), Uniform(-1, 1), "float32"),
    ("b", (4, 5), Uniform(-1, 1), "float32"),
    ("g", (4, 5), Normal(0, 1), "float32"),
    ("t", (4, 5), TruncatedNormal(0, 1), "float32"),
]


def test_same_random_seed_gives_same_parameters():
    _, first = make_params(SEED_SPECS, seed=7)
    _, second = make_params(SEED_SPECS, seed=7)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_rerunning_seeded_startup_repeats():
    startup, first = make_params(SEED_SPECS, seed=7)
    scope = mg.Scope()
    mg.Executor().run(startup, scope=scope)
    for name in first:
        np.testing.assert_array_equal(np.array(scope.find_var(name).get_tensor()), first[name], err_msg=name)


def test_different_seeds_differ():
    _, first = make_params(SEED_SPECS, seed=7)
    _, second = make_params(SEED_SPECS, seed=8)
    for name in first:
        assert not np.array_equal(first[name], second[name]), name


def test_equal_shaped_parameters_differ():
    _, v = make_params(SEED_SPECS, seed=7)
    assert not np.array_equal(v["a"], v["b"])
    _, v0 = make_params(SEED_SPECS, seed=0)
    assert not np.array_equal(v0["a"], v0["b"])


def test_seed_zero_is_fresh_each_run():
    _, first = make_params(SEED_SPECS, seed=0)
    _, second = make_params(SEED_SPECS, seed=0)
    assert not np.array_equal(first["a"], second["a"])


def test_initializer_seed_overrides_program_seed():
    spec = [("s", (4, 5), Uniform(-1, 1, seed=5), "float32")]
    startup, first = make_params(spec, seed=0)
    assert init_op(startup, "s").attr("seed") == 5
    _, second = make_params(spec, seed=0)
    _, third = make_params(spec, seed=9)
    np.testing.assert_array_equal(first["s"], second["s"])
    np.testing.assert_array_equal(first["s"], third["s"])
