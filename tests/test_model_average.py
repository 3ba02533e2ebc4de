"""ModelAverage: Paddle's window arithmetic (paddle_behaviour.md 6), apply/restore, and the
deliberate differences (only do_model_average parameters, test programs never accumulate,
misuse raises)."""

import numpy as np
import pytest

import minigraph as mg
from minigraph.ir.operator import OpRole
from minigraph.ops.average import MAX_NUM_ACCUMULATES
from minigraph.optimizer import ModelAverage
from minigraph.registry import get_op

KINDS = ("sum_1", "sum_2", "sum_3", "num_accumulates", "old_num_accumulates", "num_updates")

# paddle_behaviour.md 6.4: p_t = t, rate 0.5, min 2, max 4.
# t, sum_1, sum_2, sum_3, num_acc, old_num, num_upd, applied average
TABLE = [
    (1, 1, 0, 0, 1, 0, 1, 1.0),
    (2, 0, 0, 3, 0, 2, 2, 1.5),
    (3, 3, 0, 3, 1, 2, 3, 2.0),
    (4, 0, 0, 7, 0, 2, 4, 3.5),
    (5, 5, 0, 7, 1, 2, 5, 4.0),
    (6, 11, 0, 7, 2, 2, 6, 4.5),
    (7, 0, 0, 18, 0, 3, 7, 6.0),
    (8, 8, 0, 18, 1, 3, 8, 6.5),
    (9, 17, 0, 18, 2, 3, 9, 7.0),
    (10, 27, 0, 18, 3, 3, 10, 7.5),
    (11, 0, 0, 38, 0, 4, 11, 9.5),
    (12, 12, 0, 38, 1, 4, 12, 10.0),
    (13, 25, 0, 38, 2, 4, 13, 10.5),
    (14, 39, 0, 38, 3, 4, 14, 11.0),
    (15, 0, 0, 54, 0, 4, 15, 13.5),
]


def value(scope, name):
    return np.array(scope.find_var(name).get_tensor())


def counting_program(rate=0.5, min_window=2, max_window=4, dtype="float32"):
    """p starts at 0 and rises by exactly 1 per run: SGD lr 1 on -mean(p)."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        p = mg.create_parameter([1], dtype, name="p", default_initializer=mg.initializer.Constant(0.0))
        loss = mg.layers.scale(mg.layers.mean(p), scale=-1.0)
        mg.optimizer.SGD(1.0).minimize(loss)
        ma = ModelAverage(rate, min_average_window=min_window, max_average_window=max_window)
    return main, startup, ma


def bn_network(do_average_stats=True, seed=0):
    """fc -> batch_norm -> relu -> fc, Momentum, then ModelAverage; plus a parameter that opts out."""
    main, startup = mg.Program(), mg.Program()
    startup.random_seed = seed
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 6], dtype="float32")
        label = mg.data("label", shape=[None, 1], dtype="int64")
        h = mg.layers.fc(x, size=5)
        h = mg.layers.batch_norm(h, act="relu", do_model_average_for_mean_and_var=do_average_stats)
        logits = mg.layers.fc(h, size=3, bias_attr=mg.ParamAttr(do_model_average=False))
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        test_prog = main.clone(for_test=True)
        mg.optimizer.Momentum(0.1, momentum=0.9).minimize(loss)
        ma = ModelAverage(0.5, min_average_window=2, max_average_window=3)
    return {"main": main, "startup": startup, "test": test_prog, "logits": logits, "ma": ma}


def train(net, steps=7, seed=0):
    rng = np.random.default_rng(seed)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(net["startup"], scope=scope)
    for _ in range(steps):
        feed = {"x": rng.normal(size=(8, 6)).astype("float32"), "label": rng.integers(0, 3, size=(8, 1))}
        exe.run(net["main"], feed=feed, scope=scope)
    return exe, scope


def persistables(program, scope):
    return {v.name: value(scope, v.name) for v in program.list_vars() if v.persistable}


def expected_average(scope, ma, param):
    """Paddle's apply: float32(sum_1+sum_2+sum_3) / float32(num_acc+old_num_acc) for float32."""
    acc = {k: value(scope, ma.accumulator(k, param).name) for k in KINDS}
    dtype = acc["sum_1"].dtype
    total = (acc["sum_1"] + acc["sum_2"] + acc["sum_3"]).astype(dtype)
    count = (acc["num_accumulates"] + acc["old_num_accumulates"]).astype(dtype)
    return total / count


# --- construction ------------------------------------------------------------------------------


def test_accumulators_have_paddles_names_shapes_and_zero_init():
    main, startup, ma = counting_program()
    block = main.global_block()
    like_p = {"sum_1", "sum_2", "sum_3", "restore"}
    for kind in ("sum_1", "sum_2", "sum_3", "restore", "num_accumulates", "old_num_accumulates", "num_updates"):
        v = block.var(f"p_{kind}_0")
        assert v is ma.accumulator(kind, "p")
        assert v.persistable
        if kind in like_p:
            assert (tuple(v.shape), v.dtype) == ((1,), "float32")
        else:
            assert (tuple(v.shape), v.dtype) == ((1,), "int64")
    fills = {op.output("Out")[0]: op for op in startup.global_block().ops if op.type == "fill_constant"}
    for kind in KINDS + ("restore",):
        op = fills[f"p_{kind}_0"]
        assert op.attr("value") == 0.0
    scope = mg.Scope()
    mg.Executor().run(startup, scope=scope)
    assert value(scope, "p_num_updates_0").dtype == np.int64
    assert value(scope, "p_num_updates_0").tolist() == [0]


def test_one_average_op_per_parameter_after_the_update_ops():
    net = bn_network()
    ops = net["main"].global_block().ops
    avg_ops = [op for op in ops if op.type == "average_accumulates"]
    averaged = [p.name for p in net["ma"].averaged_parameters]
    assert [op.input("param")[0] for op in avg_ops] == averaged
    last_update = max(i for i, op in enumerate(ops) if op.type == "momentum")
    assert all(ops.index(op) > last_update for op in avg_ops)
    assert ops[-len(avg_ops) :] == avg_ops
    op = avg_ops[0]
    for slot in ("sum_1", "sum_2", "sum_3", "num_accumulates", "old_num_accumulates", "num_updates"):
        assert op.output(f"out_{slot}") == op.input(f"in_{slot}")  # updated in place
    assert op.role == OpRole.OPTIMIZE
    assert op.attr("average_window") == 0.5 and isinstance(op.attr("average_window"), float)
    assert (op.attr("min_average_window"), op.attr("max_average_window")) == (2, 3)
    assert isinstance(op.attr("min_average_window"), int)
    assert get_op("average_accumulates").no_grad


def test_averaged_set_follows_do_model_average():
    with_stats = [p.name for p in bn_network(True)["ma"].averaged_parameters]
    without = [p.name for p in bn_network(False)["ma"].averaged_parameters]
    assert with_stats == [
        "fc_0.w_0",
        "fc_0.b_0",
        "batch_norm_0.w_0",
        "batch_norm_0.b_0",
        "batch_norm_0.w_1",
        "batch_norm_0.w_2",
        "fc_1.w_0",
    ]
    assert without == ["fc_0.w_0", "fc_0.b_0", "batch_norm_0.w_0", "batch_norm_0.b_0", "fc_1.w_0"]
    block = bn_network(False)["main"].global_block()
    assert not block.has_var("fc_1.b_0_sum_1_0")  # do_model_average=False: no accumulators
    assert not block.has_var("batch_norm_0.w_1_sum_1_0")


def test_parameter_list_restricts_the_set():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 3])
        h = mg.layers.fc(x, size=2)
        mg.optimizer.SGD(0.1).minimize(mg.layers.mean(h))
        w = main.global_block().var("fc_0.w_0")
        ma = ModelAverage(0.5, parameter_list=[w])
        assert [p.name for p in ma.averaged_parameters] == ["fc_0.w_0"]
        assert [p.name for p in ModelAverage(0.5, parameter_list=["fc_0.b_0"]).averaged_parameters] == ["fc_0.b_0"]


def test_min_window_above_max_raises_at_construction():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        mg.create_parameter([2], "float32", name="p")
        with pytest.raises(ValueError, match=r"min_average_window \(5\).*max_average_window \(4\)"):
            ModelAverage(0.5, min_average_window=5, max_average_window=4)
        assert not any(op.type == "average_accumulates" for op in main.global_block().ops)


def test_no_parameter_to_average_raises():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        with pytest.raises(mg.GraphBuildError, match="no parameter to average"):
            ModelAverage(0.5)


# --- the window algorithm ----------------------------------------------------------------------


def test_reference_trajectory_row_by_row():
    main, startup, ma = counting_program()
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    for t, s1, s2, s3, n_acc, old, n_upd, avg in TABLE:
        exe.run(main, scope=scope)
        assert value(scope, "p").tolist() == [float(t)]
        got = [value(scope, f"p_{k}_0").item() for k in KINDS]
        assert got == [s1, s2, s3, n_acc, old, n_upd], f"t={t}"
        with ma.apply(exe, scope=scope):
            assert value(scope, "p").tolist() == [avg], f"t={t}"
        assert value(scope, "p").tolist() == [float(t)]
        if t == 7:
            # int(7 * 0.5) = 3, not 3.5: three accumulated steps already roll the window over
            assert (got[3], got[4]) == (0, 3)


def test_fold_into_sum_2_every_16384_updates():
    """Driven through the registered kernel (a program run per step would be slow)."""
    kernel = get_op("average_accumulates").kernel
    attrs = {"average_window": 1.0, "min_average_window": 100000, "max_average_window": 100000}
    state = [np.zeros(1), np.zeros(1), np.zeros(1), *(np.zeros(1, "int64") for _ in range(3))]
    for t in range(1, 16391):
        state = list(kernel(attrs, np.array([float(t)]), *state))
        if t == MAX_NUM_ACCUMULATES:
            assert state[0].tolist() == [0.0]
            assert state[1].tolist() == [16384 * 16385 / 2]
        if t == MAX_NUM_ACCUMULATES + 1:
            assert state[0].tolist() == [16385.0]  # sum_1 restarts with the current value
            assert state[1].tolist() == [16384 * 16385 / 2]
    s1, s2, s3, n_acc, old, n_upd = state
    assert s1.tolist() == [sum(range(16385, 16391))]
    assert (s2.tolist(), s3.tolist()) == ([16384 * 16385 / 2], [0.0])
    assert (n_acc.tolist(), old.tolist(), n_upd.tolist()) == ([16390], [0], [16390])

    # apply() of that state averages all 16390 steps
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        mg.create_parameter([1], "float64", name="q")
        ma = ModelAverage(1.0, min_average_window=100000, max_average_window=100000)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    for kind, arr in zip(KINDS, state):
        scope.var(f"q_{kind}_0").set(arr)
    with ma.apply(exe, scope=scope):
        assert value(scope, "q").tolist() == [(16390 + 1) / 2]


def test_two_element_parameter_end_state():
    """paddle_behaviour.md 6.4's second run: its exact inputs were not recorded, so these
    inputs (SGD lr 0.5 on sum(x*w), x cycling [1,3], [2,2], [1,1], [-1,-1]) are built to end
    where Paddle's run ended: w = [-6.5, -10.5], averaged [-5.5, -9.25]."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[2])
        w = mg.create_parameter([2], "float32", name="w", default_initializer=mg.initializer.Constant(0.0))
        loss = mg.layers.reduce_sum(x * w)
        mg.optimizer.SGD(0.5).minimize(loss)
        ma = ModelAverage(0.5, min_average_window=2, max_average_window=4)
    xs = np.array([[1, 3], [2, 2], [1, 1], [-1, -1]], "float32")
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    for t in range(15):
        exe.run(main, feed={"x": xs[t % 4]}, scope=scope)
    assert value(scope, "w").tolist() == [-6.5, -10.5]
    with ma.apply(exe, scope=scope):
        assert value(scope, "w").tolist() == [-5.5, -9.25]
    assert value(scope, "w").tolist() == [-6.5, -10.5]


# --- apply / restore ---------------------------------------------------------------------------
