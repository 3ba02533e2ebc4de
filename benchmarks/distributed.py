"""Data-parallel throughput of W3 (the CNN train step, global batch 32, 3x32x32) and the
time spent waiting on gradient allreduce.

    python benchmarks/distributed.py [--steps 40] [--json OUT]

Rows (each in fresh processes, BLAS threads pinned with OPENBLAS_NUM_THREADS):
  1 proc x 1 thread     plain program, batch 32
  1 proc x 2 threads    the same, BLAS on two threads
  2 procs x 1 thread    mpiexec -n 2, batch 16 each, distributed_optimizer with
                        sync_batch_norm; default buckets (32 MB: one bucket), then 16 KB
                        buckets with the overlap on and off (off: each wait follows its start)

Per row: samples/s, ms per step (wall clock, and this process's CPU time), and per step
the ms blocked in c_wait (the part of the bucketed allreduce the overlap did not hide) and
in blocking collectives (sync_batch_norm's statistics and gradient sums). "hidden" = wait
without overlap - wait with overlap. A 2-process allreduce sweep (latency, bandwidth)
feeds the cost model in docs/distributed.md.
Not a timed test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run W3 steps in this process (one rank of the job); rank 0's figures."""
    import numpy as np
    import w3_cnn

    import minigraph as mg
    import minigraph.distributed as dist
    from minigraph.ops import comm

    env = dist.init_parallel_env()
    s = w3_cnn.sizes(False)
    x, label = w3_cnn.batch(s)
    local = np.array_split(np.arange(s["batch"]), env.world_size)[env.rank]
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        xs = mg.data("x", [None, s["c"], s["hw"], s["hw"]])
        ls = mg.data("label", [None, 1], "int64")
        net, _ = w3_cnn.model(s)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(net(xs), ls))
        opt = mg.optimizer.SGD(w3_cnn.LR)
        if cfg["distributed"]:
            strategy = dist.DistributedStrategy()
            strategy.sync_batch_norm = True
            strategy.fuse_grad_size_in_MB = cfg["fuse_mb"]
            strategy.overlap_grad_comm = cfg["overlap"]
            opt = dist.distributed_optimizer(opt, strategy)
        opt.minimize(loss)
    exe = mg.Executor()
    exe.run(startup)
    feed = {"x": x[local], "label": label[local]}
    for _ in range(5):
        exe.run(main, feed=feed, fetch_list=[loss])
    dist.barrier()
    comm.stats.reset()
    times, cpu = [], []
    for _ in range(cfg["steps"]):
        t0, c0 = time.perf_counter(), time.process_time()
        exe.run(main, feed=feed, fetch_list=[loss])
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    step = float(np.median(times))
    steps = cfg["steps"]
    grad_bytes = sum(int(np.prod(p.shape)) * 4 for p in main.all_parameters() if p.trainable)
    out = {
        "samples_per_s": s["batch"] / step,
        "step_ms": step * 1e3,
        # CPU time of this process per step: well below step_ms means it waited for a core
        # (the machine is shared) or for the other rank
        "cpu_ms": float(np.median(cpu)) * 1e3,
        "wait_ms": comm.stats.wait_seconds / steps * 1e3,
        "blocking_ms": comm.stats.blocking_seconds / steps * 1e3,
        "buckets": comm.stats.buckets / steps,
        "grad_bytes": grad_bytes,
    }
    if cfg.get("sweep") and env.world_size > 1:
        out["allreduce_us"] = allreduce_sweep()
    return out


def allreduce_sweep() -> dict[str, float]:
    """Median microseconds of one blocking allreduce, by float32 buffer size in bytes."""
    import numpy as np

    from minigraph.ops import comm

    world = comm.world()
    result = {}
    for nbytes in (64, 4 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20):
        buf = np.ones(nbytes // 4, np.float32)
        samples = []
        for _ in range(30):
            world.barrier()
            t0 = time.perf_counter()
            world.allreduce(buf, "sum")
            samples.append(time.perf_counter() - t0)
        result[str(nbytes)] = float(np.median(samples)) * 1e6
    return result


def cost_model(sweep: dict[str, float], ms_per_sample: float, grad_bytes: int, local_batch: int = 16) -> dict[str, Any]:
    """docs/distributed.md's model, fitted to this machine: alpha (latency) from the smallest
    allreduce, beta (bandwidth) from the 1 MB one; a step of N processes is its compute plus a
    ring allreduce of the gradients, 2(N-1) alpha + 2(N-1)/N S/beta, plus sync_batch_norm's
    four latency-bound collectives per step (2 layers x forward and backward), 4 log2(N) alpha.
    No overlap is assumed (one 32 MB bucket), so this is the worst case."""
    import math

    alpha = sweep["64"] / 2 * 1e-6  # a 2-process allreduce of 64 bytes: two latency terms
    beta = (1 << 20) / ((sweep[str(1 << 20)] - sweep["64"]) * 1e-6)
    compute = ms_per_sample * local_batch

    def comm(n: int) -> float:
        if n == 1:
            return 0.0
        ring = 2 * (n - 1) * alpha + 2 * (n - 1) / n * grad_bytes / beta
        return (ring + 4 * math.ceil(math.log2(n)) * alpha) * 1e3

    sizes = (1, 2, 4, 8, 16, 64)
    return {
        "alpha_us": alpha * 1e6,
        "beta_gb_s": beta / 1e9,
        "compute_ms": compute,
        "comm_ms": {n: comm(n) for n in sizes},
        "predicted_ms": {n: compute + comm(n) for n in sizes},
        "efficiency": {n: compute / (compute + comm(n)) for n in sizes},
    }


ROWS = [
    ("1 proc x 1 thread", 1, 1, {"distributed": False}),
    ("1 proc x 2 threads", 1, 2, {"distributed": False}),
    ("2 procs x 1 thread", 2, 1, {"distributed": True, "fuse_mb": 32, "overlap": True, "sweep": True}),
    ("2x1, 16 KB buckets, overlap", 2, 1, {"distributed": True, "fuse_mb": 1 / 64, "overlap": True}),
    ("2x1, 16 KB buckets, no overlap", 2, 1, {"distributed": True, "fuse_mb": 1 / 64, "overlap": False}),
]


def run_row(nproc: int, threads: int, cfg: dict[str, Any]) -> dict[str, Any]:
    from minigraph.distributed.launch import find_mpiexec

    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--worker", json.dumps(cfg)]
    if nproc > 1:
        cmd = [find_mpiexec(), "-n", str(nproc), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("{"))
    return json.loads(line)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        out = worker({**json.loads(args.worker)})
        import minigraph.distributed as dist

        if dist.get_rank() == 0:
            print(json.dumps(out), flush=True)
        return out
    results: dict[str, Any] = {}
    print(
        f"{'configuration':32} {'samples/s':>10} {'ms/step':>8} {'cpu ms':>7} {'wait ms':>8} {'blocking ms':>11} "
        f"{'buckets':>7}"
    )
    for name, nproc, threads, cfg in ROWS:
        r = run_row(nproc, threads, {**cfg, "steps": args.steps})
        results[name] = r
        print(
            f"{name:32} {r['samples_per_s']:10.0f} {r['step_ms']:8.2f} {r['cpu_ms']:7.2f} {r['wait_ms']:8.3f} "
            f"{r['blocking_ms']:11.3f} {r['buckets']:7.0f}",
            flush=True,
        )
    hidden = results["2x1, 16 KB buckets, no overlap"]["wait_ms"] - results["2x1, 16 KB buckets, overlap"]["wait_ms"]
    print(f"overlap hides {hidden:.3f} ms of allreduce wait per step (16 KB buckets)")
    sweep = results["2 procs x 1 thread"].get("allreduce_us", {})
    if sweep:
        print("2-process allreduce, microseconds by size: " + ", ".join(f"{k} B: {v:.1f}" for k, v in sweep.items()))
        model = cost_model(
            sweep, results["1 proc x 1 thread"]["cpu_ms"] / 32, results["2 procs x 1 thread"]["grad_bytes"]
        )
        results["cost_model"] = model
        print(
            f"cost model: alpha {model['alpha_us']:.1f} us, beta {model['beta_gb_s']:.2f} GB/s; predicted 2-process "
            f"step {model['predicted_ms'][2]:.2f} ms (compute {model['compute_ms']:.2f} + communication "
            f"{model['comm_ms'][2]:.3f}); weak-scaling efficiency by N: "
            + ", ".join(f"{n}: {e:.0%}" for n, e in model["efficiency"].items())
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
