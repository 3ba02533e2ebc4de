"""minigraph.distributed in one process: the transpiler's program, world size 1 without MPI,
the sampler, SyncBatchNorm conversion, the API's errors. Multi-process behaviour is in
tests/test_distributed_mpi.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigraph as mg
import minigraph.distributed as dist
from minigraph.distributed import launch
from minigraph.errors import GraphBuildError, MinigraphError
from minigraph.ops.bucket import finish, plan_buckets, start
from tests import distributed_worker as worker

ROOT = Path(__file__).resolve().parents[1]
BLOCK_MPI = "import sys; sys.modules['mpi4py'] = None; "  # makes `import mpi4py` raise ImportError


def python(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE")}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=timeout,
    )


# --- world size 1 ---------------------------------------------------------------------------


def test_import_minigraph_does_not_import_mpi4py():
    proc = python("import sys, minigraph; print('mpi4py' in sys.modules, minigraph.distributed.get_world_size())")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "1"]


def test_the_distributed_example_runs_as_one_process_without_mpi(tmp_path):
    code = (
        BLOCK_MPI + "import runpy; sys.argv = ['x', '--epochs', '1', '--limit', '256', '--quiet', "
        f"'--out', {str(tmp_path)!r}]; runpy.run_path('examples/train_digits_distributed.py', run_name='__main__')"
    )
    proc = python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 process(es) x batch 16: test accuracy" in proc.stdout
    assert (tmp_path / "checkpoint" / "persistables.json").exists()


def test_a_launched_job_without_mpi4py_is_refused_with_the_fix():
    proc = python(BLOCK_MPI + "import minigraph.distributed as d; d.init_parallel_env()", env={"PMI_SIZE": "2"})
    assert proc.returncode != 0
    assert "mpi4py is not installed" in proc.stderr and "minigraph[distributed]" in proc.stderr
    proc = python(BLOCK_MPI + "import minigraph.distributed as d; print(d.get_world_size())", env={"PMI_SIZE": "1"})
    assert proc.stdout.strip() == "1", proc.stderr


def test_one_process_transpiled_training_equals_plain_training_bit_for_bit():
    plain = worker.train_static(3, distributed=False)
    transpiled = worker.train_static(3, distributed=True, sync=True, fuse_grad_size_in_mb=0.01)
    assert plain["loss"] == transpiled["loss"]
    for name, value in plain["state"][-1].items():
        np.testing.assert_array_equal(transpiled["state"][-1][name], value, err_msg=name)
    eager_plain, eager_dp = worker.train_eager(3, distributed=False), worker.train_eager(3, distributed=True)
    assert eager_plain["loss"] == eager_dp["loss"]
    for name, value in eager_plain["state"][-1].items():
        np.testing.assert_array_equal(eager_dp["state"][-1][name], value, err_msg=name)


# --- the transpiler -------------------------------------------------------------------------


def _net(**strategy):
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.data("x", [None, 2, 4, 4])
        y = mg.data("y", [None, 1], "int64")
        h = mg.layers.batch_norm(mg.layers.conv2d(x, 3, 3, padding=1), act="relu")
        logits = mg.layers.fc(h, 5)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, y))
        s = dist.DistributedStrategy()
        for k, v in strategy.items():
            setattr(s, k, v)
        ops, params_grads = dist.distributed_optimizer(mg.optimizer.SGD(0.1), s).minimize(loss)
    return main, startup, params_grads


def test_transpiler_buckets_start_after_their_last_gradient_and_wait_before_the_first_reader():
    main, startup, params_grads = _net(fuse_grad_size_in_MB=100 / 2**20)  # 100-byte buckets
    ops = main.global_block().ops
    types = [op.type for op in ops]
    starts = [i for i, t in enumerate(types) if t == "c_allreduce_start"]
    waits = [i for i, t in enumerate(types) if t == "c_wait"]
    assert len(starts) == len(waits) > 2
    grads = {g.name for _, g in params_grads}
    bucketed = [n for i in starts for n in ops[i].input("X")]
    assert sorted(bucketed) == sorted(grads)  # every gradient exactly once
    first_update = types.index("sgd")
    for i in starts:
        names = set(ops[i].input("X"))
        last_writer = max(j for j, op in enumerate(ops[:i]) if names & set(op.output_arg_names))
        assert last_writer == i - 1 or all(t == "c_allreduce_start" for t in types[last_writer + 1 : i])
        (wait,) = [j for j in waits if ops[j].input("Handle") == ops[i].output("Handle")]
        assert ops[wait].output("Out") == ops[i].input("X")  # in place, as Paddle's allreduce
        readers = [j for j, op in enumerate(ops) if j > wait and names & set(op.input_arg_names)]
        assert wait < first_update <= min(readers)
    # overlap: the first bucket starts while backward ops still follow
    assert any(op.role & mg.OpRole.BACKWARD and op.type.endswith("_grad") for op in ops[starts[0] + 1 :])
    assert "sync_batch_norm" not in types  # not asked for
    bcast = [op.input("X")[0] for op in startup.global_block().ops if op.type == "c_broadcast"]
    assert sorted(bcast) == sorted(p.name for p in main.all_parameters())
    assert "c_allreduce_start(X=" in str(main) and "reduce='avg'" in str(main)
    main.verify()
    startup.verify()


def test_one_bucket_by_default_and_blocking_waits_without_overlap():
    main, _, _ = _net(sync_batch_norm=True, overlap_grad_comm=False)
    types = [op.type for op in main.global_block().ops]
    assert types.count("c_allreduce_start") == 1
    assert types[types.index("c_allreduce_start") + 1] == "c_wait"
    assert "batch_norm" not in types and "batch_norm_grad" not in types
    assert {"sync_batch_norm", "sync_batch_norm_grad"} <= set(types)


def test_collective_ops_have_their_own_colour_in_the_drawing():
    main, _, _ = _net()
    src = mg.viz.to_dot(main).source
    assert "#795548" in src and "collective (communication) op" in src
    assert "c_allreduce_start" in src
    hidden = mg.viz.to_dot(main, show_grad=False).source
    assert "c_allreduce_start" not in hidden and "c_wait" not in hidden


def test_plan_buckets_groups_by_dtype_and_size():
    sizes = [(40, "f4"), (40, "f4"), (8, "f8"), (40, "f4"), (200, "f4"), (8, "f8")]
    assert plan_buckets(sizes, 100) == [[0, 1], [2, 5], [3], [4]]
    assert plan_buckets(sizes, 1 << 20) == [[0, 1, 3, 4], [2, 5]]


def test_bucket_ops_in_one_process():
    a, b = np.arange(6.0).reshape(2, 3), np.ones(4, "float32")
    h = start([a], "avg")
    out = finish(h)
    np.testing.assert_array_equal(out[0], a)
    with pytest.raises(mg.ExecutionError, match="no allreduce is in flight"):
        finish(h)
    main = mg.Program()
    block = main.global_block()
    x = block.create_var("x", (4,), "float32", is_data=True)
    handle = block.create_var("h", (), "int64")
    block.append_op("c_allreduce_start", {"X": [x]}, {"Handle": handle}, {"reduce": "sum"})
    block.append_op("c_wait", {"Handle": handle}, {"Out": [x]})
    assert handle.dtype == "int64" and handle.shape == ()
    (got,) = mg.Executor().run(main, feed={"x": b}, fetch_list=["x"])
    np.testing.assert_array_equal(got, b)
    with pytest.raises(MinigraphError, match="one bucket holds one dtype"):
        y = block.create_var("y", (2,), "float64")
        block.append_op("c_allreduce_start", {"X": [x, y]}, {"Handle": handle})


def test_collective_attrs_are_checked():
    main = mg.Program()
    block = main.global_block()
    x = block.create_var("x", (3, 2), "float32")
    with pytest.raises(GraphBuildError, match="ring 0"):
        block.append_op("c_allreduce_sum", {"X": x}, {"Out": "o"}, {"ring_id": 2})
    with pytest.raises(GraphBuildError, match="does not split into nranks=2"):
        block.append_op("c_reducescatter", {"X": x}, {"Out": "o"}, {"nranks": 2})
    block.append_op("c_allgather", {"X": x}, {"Out": "g"}, {"nranks": 2})
    assert block.var("g").shape == (6, 2)
    with pytest.raises(mg.ExecutionError, match="built for nranks=2, but this job has 1"):
        mg.Executor().run(main, feed={"x": np.zeros((3, 2), "float32")}, fetch_list=["g"])


# --- API --------------------------------------------------------------------------------------


def test_strategy_refuses_misspelt_options_and_bad_sizes():
    s = dist.DistributedStrategy()
    with pytest.raises(AttributeError):
        s.sync_batchnorm = True  # type: ignore[attr-defined]
    s.fuse_grad_size_in_MB = 0
    with pytest.raises(ValueError, match="fuse_grad_size_in_MB"):
        dist.distributed_optimizer(mg.optimizer.SGD(0.1), s)
    with pytest.raises(TypeError, match="wraps a minigraph optimizer"):
        dist.distributed_optimizer("sgd")  # type: ignore[arg-type]


def test_fleet_aliases():
    from minigraph.distributed import fleet

    with pytest.raises(MinigraphError, match="collective training only"):
        fleet.init()
    fleet.init(is_collective=True)
    opt = fleet.distributed_optimizer(mg.optimizer.SGD(0.1))
    assert isinstance(opt, dist.DistributedOptimizer)
    assert fleet.worker_index() == 0 and fleet.worker_num() == 1 and fleet.is_first_worker()
    assert opt._learning_rate == 0.1  # the wrapped optimizer's attributes


def test_sampler_gives_each_rank_its_disjoint_share_of_every_step():
    samplers = [dist.DistributedBatchSampler(40, 4, shuffle=True, seed=5, num_replicas=3, rank=r) for r in range(3)]
    assert [len(s) for s in samplers] == [4, 4, 4]  # 3 full steps of 12, then 1 partial step
    steps = list(zip(*samplers))
    assert [len(b) for b in steps[-1]] == [2, 1, 1]
    seen = np.concatenate([b for step in steps for b in step])
    assert len(seen) == len(set(seen.tolist()))
    one = dist.DistributedBatchSampler(40, 12, shuffle=True, seed=5, num_replicas=1, rank=0)
    for step, whole in zip(steps, one):
        np.testing.assert_array_equal(np.concatenate(step), whole)  # rank order = one process's batch
    first = [b.tolist() for b in samplers[0]]
    samplers[0].set_epoch(1)
    assert [b.tolist() for b in samplers[0]] != first
    samplers[0].set_epoch(0)
    assert [b.tolist() for b in samplers[0]] == first


def test_sampler_last_step_and_drop_last():
    parts = [list(dist.DistributedBatchSampler(10, 4, num_replicas=2, rank=r)) for r in (0, 1)]
    assert [b.tolist() for b in parts[0]] == [[0, 1, 2, 3], [8]]
    assert [b.tolist() for b in parts[1]] == [[4, 5, 6, 7], [9]]
    dropped = dist.DistributedBatchSampler(10, 4, drop_last=True, num_replicas=2, rank=1)
    assert [b.tolist() for b in dropped] == [[4, 5, 6, 7]] and len(dropped) == 1
    lone = [list(dist.DistributedBatchSampler(9, 4, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(lone[0]) == len(lone[1]) == 1  # one leftover sample cannot feed two ranks
    assert len(dist.DistributedBatchSampler(range(7), 2)) == 4  # a dataset: its len(); world size 1
    with pytest.raises(ValueError, match="batch_size"):
        dist.DistributedBatchSampler(10, 0)


def test_convert_sync_batchnorm_shares_parameters_and_computes_batch_norm_in_one_process():
    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2)).astype("float32")
    with mg.dygraph.guard():
        model = mg.nn.Sequential(mg.nn.Conv2D(3, 3, 1), mg.nn.BatchNorm(3, act="relu"))
        bn = model[1]
        before = model(mg.dygraph.to_variable(x)).numpy()
        converted = mg.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        assert converted is model and type(model[1]) is mg.nn.SyncBatchNorm
        assert model[1].weight is bn.weight and model[1].moving_mean is bn.moving_mean
        np.testing.assert_array_equal(model(mg.dygraph.to_variable(x)).numpy(), before)
        assert type(mg.nn.SyncBatchNorm.convert_sync_batchnorm(mg.nn.BatchNorm(2))) is mg.nn.SyncBatchNorm
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        mg.nn.SyncBatchNorm(3)(mg.data("x", [None, 3, 2, 2]))
    assert [op.type for op in main.global_block().ops] == ["sync_batch_norm"]


def test_sync_batch_norm_accepts_a_local_batch_of_one():
    main = mg.Program()
    with mg.program_guard(main, mg.Program()):
        x = mg.data("x", [1, 3])
        with pytest.raises(GraphBuildError, match="one value per channel"):
            mg.nn.BatchNorm(3)(x)
        mg.nn.SyncBatchNorm(3)(x)  # the global batch decides, at run time


def test_gradient_hooks_are_eager_only():
    with pytest.raises(GraphBuildError, match="eager mode"):
        mg.ir.builder.StaticBuilder(mg.Program()).add_gradient_hook(lambda pairs: pairs)


def test_save_persistables_from_rank_zero_in_one_process(tmp_path):
    main, startup, _ = _net()
    exe, scope = mg.Executor(), mg.Scope()
    with mg.scope_guard(scope):
        exe.run(startup)
        dist.save_persistables(exe, tmp_path / "ckpt", main)
        w = np.array(scope.find_var("fc_0.w_0").get_tensor())
    with mg.scope_guard(mg.Scope()):
        dist.load_persistables(exe, tmp_path / "ckpt", main)
        np.testing.assert_array_equal(mg.global_scope().find_var("fc_0.w_0").get_tensor(), w)


def test_launcher_command_line(tmp_path):
    cmd = launch.command(2, "train.py", ["--epochs", "3"], mpiexec="/x/mpiexec")
    assert cmd == ["/x/mpiexec", "-n", "2", sys.executable, "train.py", "--epochs", "3"]
    with pytest.raises(SystemExit):
        launch.main(["--nproc", "0", "train.py"])
