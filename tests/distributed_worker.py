"""What each process runs in tests/test_distributed_mpi.py (`mpiexec -n 2 python this.py SCENARIO OUTDIR`),
and the single-process references those tests compare with (imported by the tests).

Every scenario trains the flagship network of examples/train_digits_distributed.py on the
first samples of the digits data: step k uses the 32 samples [32k, 32k + 32); with N
processes rank r takes the r-th block of 32 / N. Ranks start from different seeds (the
startup broadcast / DataParallel must make them agree). Results go to OUTDIR as .npz files,
one per rank.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np

import minigraph as mg
import minigraph.distributed as dist

ROOT = Path(__file__).resolve().parents[1]
STEP = 32  # global batch


def example() -> Any:
    spec = importlib.util.spec_from_file_location(
        "train_digits_distributed", ROOT / "examples" / "train_digits_distributed.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


EX = example()


def data(steps: int, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    x, y, _, _ = EX.load_data(1)
    return x[: steps * STEP].astype(dtype), y[: steps * STEP]


def local(step: int, rank: int, world: int) -> np.ndarray:
    """This rank's sample indices at `step`."""
    return np.array_split(np.arange(step * STEP, (step + 1) * STEP), world)[rank]


def state(scope: Any, program: mg.Program) -> dict[str, np.ndarray]:
    """Every persistable parameter (weights and moving statistics) by name."""
    return {p.name: np.array(scope.find_var(p.name).get_tensor()) for p in program.all_parameters()}


# --- static ---------------------------------------------------------------------------------


def train_static(
    steps: int, rank: int = 0, world: int = 1, distributed: bool = True, sync: bool = True, **build: Any
) -> dict[str, Any]:
    """Per step: the loss (this rank's) and the state; plus the first step's gradients."""
    dtype = build.get("dtype", "float32")
    net = EX.build(seed=1 + rank, distributed=distributed, sync_batch_norm=sync, average=False, **build)
    x, y = data(steps, dtype)
    grads = [p.name + "@GRAD" for p in net["main"].all_parameters() if p.trainable]
    exe, scope = mg.Executor(), mg.Scope()
    out: dict[str, Any] = {"loss": [], "state": []}
    with mg.scope_guard(scope):
        exe.run(net["startup"])
        for step in range(steps):
            idx = local(step, rank, world)
            values = exe.run(net["main"], feed={"image": x[idx], "label": y[idx]}, fetch_list=[net["loss"], *grads])
            out["loss"].append(float(values[0]))
            if step == 0:
                out["grads"] = dict(zip(grads, values[1:]))
            out["state"].append(state(scope, net["main"]))
    return out


# --- eager ----------------------------------------------------------------------------------


def train_eager(steps: int, rank: int = 0, world: int = 1, distributed: bool = True) -> dict[str, Any]:
    x, y = data(steps)
    out: dict[str, Any] = {"loss": [], "state": []}
    with mg.dygraph.guard(seed=1 + rank):
        model = EX.DigitsNet()
        if distributed:
            model = dist.DataParallel(mg.nn.SyncBatchNorm.convert_sync_batchnorm(model))
        opt = mg.optimizer.Momentum(0.05, momentum=0.9, parameter_list=model.parameters())
        for step in range(steps):
            idx = local(step, rank, world)
            logits = model(mg.dygraph.to_variable(x[idx]))
            loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, mg.dygraph.to_variable(y[idx])))
            loss.backward()
            opt.minimize(loss)
            model.clear_gradients()
            out["loss"].append(float(loss.numpy()))
            out["state"].append(model.state_dict())
    return out


# --- collectives across processes -----------------------------------------------------------


def collective_inputs(rank: int) -> np.ndarray:
    return np.random.default_rng(100 + rank).normal(size=(2, 3))


def collective_weights(op: str, rank: int, world: int) -> np.ndarray:
    """The weights w_r of each rank's loss sum(w_r * out) in `run_collectives`."""
    return np.random.default_rng(200 + rank).normal(size=(2 * world, 3) if op == "c_allgather" else (2, 3))


def run_collectives(rank: int, world: int) -> dict[str, np.ndarray]:
    """Each collective op's output, and the gradient of sum(w_r * out) for a rank-specific w_r."""
    main, startup = mg.Program(), mg.Program()
    ops = {
        "c_allreduce_sum": {},
        "c_allreduce_avg": {},
        "c_allreduce_max": {},
        "c_broadcast": {"root": 1},
        "c_reduce_sum": {"root_id": 1},
        "c_allgather": {"nranks": world},
        "c_reducescatter": {"nranks": world},
    }
    fetch: dict[str, Any] = {}
    with mg.program_guard(main, startup):
        x = mg.data("x", [2, 3], "float64")
        x.stop_gradient = False
        block = main.global_block()
        for op, attrs in ops.items():
            # c_reducescatter splits axis 0 into one block per rank: feed it [x; 2x]
            src = mg.layers.concat([x, x * 2.0], axis=0) if op == "c_reducescatter" else x
            out = block.create_var(f"{op}_out", dtype="float64")
            block.append_op(op, {"X": src}, {"Out": out}, attrs)
            fetch[f"{op}/out"] = out
            if op != "c_allreduce_max":  # no gradient
                w = collective_weights(op, rank, world)
                (fetch[f"{op}/grad"],) = mg.gradients([mg.layers.reduce_sum(out * mg.layers.assign(w))], [x])
        values = mg.Executor().run(main, feed={"x": collective_inputs(rank)}, fetch_list=list(fetch.values()))
    results = dict(zip(fetch, values))
    # fused buckets: start two, wait in reverse order
    a = np.full((3,), float(rank + 1))
    b = np.arange(4.0) * (rank + 1)
    h1 = mg.ops.bucket.start([a, b], "sum")
    h2 = mg.ops.bucket.start([b], "avg")
    results["bucket_avg"] = mg.ops.bucket.finish(h2)[0]
    results["bucket_sum_a"], results["bucket_sum_b"] = mg.ops.bucket.finish(h1)
    return results


# --- scenarios ------------------------------------------------------------------------------


def save(outdir: str, tag: str, rank: int, run: dict[str, Any]) -> None:
    flat: dict[str, np.ndarray] = {"loss": np.array(run["loss"])}
    for k, st in enumerate(run["state"]):
        flat.update({f"state{k}/{n}": v for n, v in st.items()})
    flat.update({f"grad/{n}": v for n, v in run.get("grads", {}).items()})
    np.savez(os.path.join(outdir, f"{tag}_r{rank}.npz"), **flat)


def train_until_failure(rank: int, how: str) -> None:
    net = EX.build(seed=1, average=False)
    x, y = data(6)
    exe = mg.Executor()
    exe.run(net["startup"])
    for step in range(6):
        if step == 3 and rank == 1:
            if how == "raise":
                raise RuntimeError("injected failure on rank 1 at step 3")
            os.kill(os.getpid(), signal.SIGKILL)
        idx = local(step, rank, dist.get_world_size())
        exe.run(net["main"], feed={"image": x[idx], "label": y[idx]}, fetch_list=[net["loss"]])


def resume_run(rank: int, world: int, outdir: str, phase: str) -> dict[str, np.ndarray]:
    """phase "full": 6 steps, checkpoint after step 3; phase "resume": load it, steps 3..5.
    Returns the final state and the ModelAverage-averaged parameters."""
    net = EX.build(seed=1 + rank, average=True)
    x, y = data(6)
    exe, scope = mg.Executor(), mg.Scope()
    ckpt = os.path.join(outdir, "ckpt")
    with mg.scope_guard(scope):
        exe.run(net["startup"])
        first = 0
        if phase == "resume":
            dist.load_persistables(exe, ckpt, net["main"])
            first = 3
        for step in range(first, 6):
            idx = local(step, rank, world)
            exe.run(net["main"], feed={"image": x[idx], "label": y[idx]}, fetch_list=[net["loss"]])
            if phase == "full" and step == 2:
                dist.save_persistables(exe, ckpt, net["main"])
        out = state(scope, net["main"])
        with net["average"].apply(exe):
            out.update({f"averaged/{n}": v for n, v in state(scope, net["main"]).items()})
    return out


def main(argv: list[str]) -> None:
    scenario, outdir = argv[0], argv[1]
    env = dist.init_parallel_env()
    rank, world = env.rank, env.world_size
    if scenario == "train":
        save(outdir, "static_sync", rank, train_static(5, rank, world))
        save(outdir, "eager_sync", rank, train_eager(5, rank, world))
        save(outdir, "static_plain", rank, train_static(5, rank, world, sync=False, fuse_grad_size_in_mb=0.01))
    elif scenario == "grad":
        save(outdir, "grad64", rank, train_static(1, rank, world, dtype="float64"))
        np.savez(os.path.join(outdir, f"collectives_r{rank}.npz"), **run_collectives(rank, world))
    elif scenario in ("raise", "kill"):
        train_until_failure(rank, scenario)
    elif scenario in ("full", "resume"):
        np.savez(os.path.join(outdir, f"{scenario}_r{rank}.npz"), **resume_run(rank, world, outdir, scenario))
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
