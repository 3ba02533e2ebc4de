"""Benchmark minigraph against hand-written numpy (and PyTorch, Paddle static and onnxruntime when they import).

    python benchmarks/run.py [--quick] [--json OUT] [--only W2,W3] [--reps N] [--threads 1,2]

Workloads (see the w*.py modules): W1 a chain of elementwise adds (engine overhead per op
and per run), W2 an MLP train step, W3 a CNN train step, W4 batch_norm forward+backward,
W5 the CNN in test mode with batch_norm folded (also through onnxruntime, from minigraph's
ONNX export, when the onnx extra is installed). For each workload a subprocess first checks
that every implementation computes the same numbers as the straightforward numpy reference
(`reference.py`; losses or outputs of steps 0-2 from the same initial weights, to 1e-5), then
times them interleaved (with more than one thread, pausing before each sample so that one
library's idle threads, still spinning after its last call, do not take a core from the
next) and reports medians and ratios: to the expert numpy (`expert.py`:
channels-last GEMM convolutions, BLAS batch_norm sums, affine batch_norm, pairwise pools),
and to PyTorch when it imports. Each thread count of `--threads` gets its own subprocess,
with OPENBLAS/OMP/MKL_NUM_THREADS set (and threadpoolctl's limit when it is installed);
the peers get the same count. Peak RSS is measured per implementation in a fresh subprocess
each, as growth over the RSS after a warm-up step at the quick sizes (a library's one-time
runtime, e.g. numba's JIT engine, is reported beside it); the import cost of minigraph in
another.

The peers (PyTorch, Paddle, onnxruntime) are not dependencies: install
`benchmarks/requirements-peers.txt` in a separate venv and run this script there with
minigraph on the path (`PYTHONPATH=.`).

To measure OpenBLAS's best kernel, run it with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset
(the header prints the kernel in use):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py --json out.json

`--quick` runs tiny sizes and few repetitions (the test suite runs it; no timings asserted).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

WORKLOADS = {"W1": "w1_chain", "W2": "w2_mlp", "W3": "w3_cnn", "W4": "w4_batch_norm", "W5": "w5_inference"}
CHECK_STEPS = 3
TOLERANCE = 1e-5
# Peers are informational: their conventions differ in places (PyTorch blends the unbiased
# variance into the running variance), so their differences are reported, not enforced.
# onnxruntime runs minigraph's own ONNX export, so it must agree like minigraph does.
ENFORCED = ("expert", "static", "static_nofold", "static_test", "eager", "onnxruntime")
COLUMNS = ("expert", "numpy", "static", "eager", "torch", "paddle", "onnxruntime")
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MG_BENCH_THREADS")
# glibc's malloc by default unmaps or trims large freed blocks, so code that allocates fresh
# temporaries every step (the numpy reference) pays a page fault per 4 KiB touched. These
# workloads are timed twice: as is, and with malloc told to keep freed memory (no trimming,
# no mmap below 32 MiB), which shows the kernels' speed without the allocator's part.
KEEP_MEMORY = {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=68719476736"}
SETTLE_S = 0.25  # seconds between samples with more than one thread (harness.time_interleaved)
ALLOCATOR_WORKLOADS = ("W2", "W3", "W5")


# --- workers (run in subprocesses) --------------------------------------------------------


def _module(workload: str) -> Any:
    return importlib.import_module(WORKLOADS[workload])


def _available(mod: Any, quick: bool) -> dict[str, Any]:
    from common import Unavailable

    steps = {}
    for impl in mod.IMPLS:
        try:
            steps[impl] = mod.setup(impl, quick)
        except (Unavailable, ImportError):
            continue
    return steps


def check(workload: str, quick: bool) -> dict[str, Any]:
    """Run each implementation CHECK_STEPS times from the same initial weights and compare
    every returned value with the numpy reference's."""
    from common import Unavailable, max_rel_diff

    mod = _module(workload)
    outputs: dict[str, list[Any]] = {}
    for impl in mod.IMPLS:
        try:
            step = mod.setup(impl, quick, full=True)
        except (Unavailable, ImportError):
            continue
        outputs[impl] = [step() for _ in range(CHECK_STEPS)]
    ref = outputs.pop("numpy")
    diffs: dict[str, float] = {}
    for impl, outs in outputs.items():
        worst = 0.0
        for got, want in zip(outs, ref):
            pairs = zip(got, want) if isinstance(want, tuple) else [(got, want)]
            worst = max(worst, *(max_rel_diff(g, w) for g, w in pairs if g is not None))
        diffs[impl] = worst
    ok = all(d <= TOLERANCE for impl, d in diffs.items() if impl in ENFORCED)
    return {"max_rel_diff": diffs, "ok": ok, "tolerance": TOLERANCE}


def time_workload(workload: str, quick: bool, reps: int) -> dict[str, Any]:
    from harness import time_interleaved

    mod = _module(workload)
    min_sample = 0.0 if quick else 0.05
    if workload == "W1":
        return _time_chain(mod, quick, reps, min_sample)
    # With more than one thread, let the previous implementation's idle threads fall asleep
    # first (measured: minigraph's two-thread W5 took 8-12 ms right after the numpy
    # implementations' threaded GEMMs, and 6 ms after a pause or alone).
    threads = int(os.environ.get("MG_BENCH_THREADS") or 0)
    settle = SETTLE_S if threads != 1 and not quick else 0.0
    timed = time_interleaved(_available(mod, quick), reps, min_sample, warmup=1 if quick else 2, settle=settle)
    base = timed["expert" if "expert" in timed else "numpy"]["median_s"]
    out = {
        impl: {
            "ms": r["median_s"] * 1e3,
            "ratio": r["median_s"] / base,
            "ratio_numpy": r["median_s"] / timed["numpy"]["median_s"],
            "faults_per_step": r["faults"],
        }
        for impl, r in timed.items()
    }
    for peer in ("torch", "paddle", "onnxruntime"):
        if peer in timed:
            for impl, r in timed.items():
                out[impl][f"ratio_{peer}"] = r["median_s"] / timed[peer]["median_s"]
    return out


def _time_chain(mod: Any, quick: bool, reps: int, min_sample: float) -> dict[str, Any]:
    """fixed + n * marginal from chains of two lengths, all implementations interleaved."""
    from common import Unavailable
    from harness import time_interleaved

    short, long = (2, 20) if quick else mod.LENGTHS
    steps = {}
    for impl in mod.IMPLS:
        try:
            steps[(impl, short)] = mod.setup(impl, quick, n=short)
            steps[(impl, long)] = mod.setup(impl, quick, n=long)
        except (Unavailable, ImportError):
            continue
    timed = time_interleaved({f"{i}/{n}": s for (i, n), s in steps.items()}, reps, min_sample)
    out: dict[str, Any] = {}
    base = timed[f"numpy/{long}"]["median_s"]
    for impl in {i for i, _ in steps}:
        t_short, t_long = timed[f"{impl}/{short}"]["median_s"], timed[f"{impl}/{long}"]["median_s"]
        marginal = (t_long - t_short) / (long - short)
        out[impl] = {
            "ms": t_long * 1e3,
            "ratio": t_long / base,
            "ratio_numpy": t_long / base,
            "per_op_us": marginal * 1e6,
            "fixed_us": (t_short - short * marginal) * 1e6,
            "ops": long,
        }
    if "torch" in out:
        for v in out.values():
            v["ratio_torch"] = v["ms"] / out["torch"]["ms"]
    return out


def limit_threads() -> int | None:
    """In a worker: the thread count the driver chose (MG_BENCH_THREADS), also applied through
    threadpoolctl when it is installed (the environment variables already did it for OpenBLAS)."""
    n = os.environ.get("MG_BENCH_THREADS")
    if not n:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return int(n)
    global _LIMIT
    _LIMIT = threadpool_limits(limits=int(n))
    return int(n)


_LIMIT: Any = None


def threads_env(n: int | None) -> dict[str, str] | None:
    if n is None:
        return None
    # OpenMP's idle threads (PyTorch's) sleep instead of spinning: the implementations are
    # timed interleaved in one process, and spinning ones take the cores from the next.
    return {**os.environ, **dict.fromkeys(THREAD_VARS, str(n)), "OMP_WAIT_POLICY": "PASSIVE"}


def rss_worker(workload: str, impl: str, quick: bool) -> dict[str, Any]:
    """Peak RSS of CHECK_STEPS steps of one implementation, over the RSS after imports and a
    warm-up step at the quick sizes. The warm-up loads what a library loads once per process
    whatever the sizes (numba's JIT engine and compiled kernels, PyTorch's and onnxruntime's
    runtimes), so the growth is what the workload's size costs; the warm-up's own cost is
    reported beside it."""
    import gc

    import numpy as np
    from harness import peak_rss_mib, rss_mib

    np.ones((64, 64)) @ np.ones((64, 64))  # let OpenBLAS set up its buffers before the baseline

    if impl != "numpy" and not impl.startswith("torch"):  # onnxruntime's model comes from minigraph
        import minigraph  # noqa: F401
    mod = _module(workload)
    start = rss_mib()
    if not quick:
        warm = mod.setup(impl, True)
        warm()
        del warm
        gc.collect()
    base = rss_mib()
    step = mod.setup(impl, quick)
    for _ in range(CHECK_STEPS):
        step()
    peak = peak_rss_mib()
    return {"base_mib": base, "peak_mib": peak, "growth_mib": peak - base, "warmup_mib": base - start}


def import_worker() -> dict[str, Any]:
    from harness import rss_mib

    r0, t0 = rss_mib(), time.perf_counter()
    import numpy  # noqa: F401

    r1, t1 = rss_mib(), time.perf_counter()
    import minigraph  # noqa: F401

    r2, t2 = rss_mib(), time.perf_counter()
    return {"numpy_s": t1 - t0, "numpy_mib": r1 - r0, "minigraph_s": t2 - t1, "minigraph_mib": r2 - r1}


# --- the driver ---------------------------------------------------------------------------


def _sub(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _machine() -> dict[str, Any]:
    import numpy as np
    from harness import blas_info

    import minigraph

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "kernels": minigraph.kernels(),
        "cpus": os.cpu_count(),
        "openblas_env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ},
        **blas_info(),
    }


def _fmt_ms(ms: float) -> str:
    return f"{ms * 1e3:.0f} µs" if ms < 1 else f"{ms:.1f} ms"


def _cell(t: dict[str, Any], impl: str) -> str:
    if impl not in t:
        return "-"
    base = "expert" if "expert" in t else "numpy"
    if impl == base:
        return _fmt_ms(t[impl]["ms"])
    return f"{_fmt_ms(t[impl]['ms'])} ({t[impl]['ratio']:.2f}x)"


def _table(results: dict[str, Any]) -> str:
    lines = []
    m = results["machine"]
    lines.append(
        f"minigraph benchmarks: python {m['python']}, numpy {m['numpy']}, {m.get('blas')} {m.get('version', '')} "
        f"kernel {m.get('architecture', '?')}, minigraph kernels {m.get('kernels', '?')}, {m['cpus']} cpus, "
        f"load average {m.get('load', '?')}" + (f", env {m['openblas_env']}" if m["openblas_env"] else "")
    )
    lines.append(
        "times are medians; (x) is the ratio to the expert numpy (W1: to numpy); "
        "static/torch is minigraph static over PyTorch in the same run"
    )
    header = f"{'workload':<9}{'threads':>7}" + "".join(f"{c:>20}" for c in COLUMNS) + f"{'static/torch':>14}"
    lines += [header, "-" * len(header)]
    for w, r in results["workloads"].items():
        for n, t in r["threads"].items():
            cells = "".join(f"{_cell(t, c):>20}" for c in COLUMNS)
            vs = f"{t['static']['ratio_torch']:.2f}x" if "ratio_torch" in t.get("static", {}) else "-"
            lines.append(f"{w:<9}{n:>7}" + cells + f"{vs:>14}")
            for extra in (k for k in t if k not in COLUMNS):
                peers = "".join(
                    f", {t[extra][f'ratio_{p}']:.2f}x {p}"
                    for p in ("torch", "paddle", "onnxruntime")
                    if f"ratio_{p}" in t[extra]
                )
                lines.append(f"{'':<16}{extra}: {_fmt_ms(t[extra]['ms'])} ({t[extra]['ratio']:.2f}x expert{peers})")
            if w == "W1":
                per = ", ".join(
                    f"{k} {t[k]['per_op_us']:.2f} µs/op + {t[k]['fixed_us']:.1f} µs/run" for k in COLUMNS if k in t
                )
                lines.append(f"{'':<16}per op + fixed: {per}")
        if "time_keep_memory" in r:
            tk = r["time_keep_memory"]
            cells = ", ".join(f"{k} {_cell(tk, k)}" for k in tk)
            lines.append(f"{'':<16}malloc keeping freed memory ({max(r['threads'])} threads): {cells}")
        chk = r["check"]
        diffs = ", ".join(f"{k} {v:.1e}" for k, v in chk["max_rel_diff"].items())
        lines.append(f"{'':<16}check vs reference.py: {'ok' if chk['ok'] else 'FAILED'}: {diffs}")
    lines.append("")
    lines.append(
        "peak RSS growth over the RSS after imports and a warm-up step at the quick sizes, MiB"
        " (peak RSS, ratio to the expert numpy; +the warm-up's one-time cost):"
    )
    for w, r in results["workloads"].items():
        rss = r.get("rss", {})
        if rss:
            base_impl = "expert" if "expert" in rss else "numpy"
            base = rss.get(base_impl, {}).get("growth_mib")
            cells = []
            for impl, v in rss.items():
                ratio = f", {v['growth_mib'] / base:.2f}x" if base and impl != base_impl else ""
                warm = f"; +{v['warmup_mib']:.0f}" if "warmup_mib" in v else ""
                cells.append(f"{impl} {v['growth_mib']:.0f} ({v['peak_mib']:.0f}{ratio}{warm})")
            lines.append(f"  {w}: " + "; ".join(cells))
    imp = results["import"]
    lines.append(
        f"import minigraph (after numpy): {imp['minigraph_s'] * 1e3:.0f} ms, {imp['minigraph_mib']:.1f} MiB; "
        f"numpy itself: {imp['numpy_s'] * 1e3:.0f} ms, {imp['numpy_mib']:.1f} MiB"
    )
    return "\n".join(lines)


# (workload, implementation, compared with, limit): minigraph static's time over the expert
# numpy's or a peer's, measured in the same process.
TIME_TARGETS = (
    ("W2", "static", "expert", 1.0),
    ("W2", "static", "torch", 1.0),
    ("W3", "static", "expert", 0.6),
    ("W3", "static", "torch", 0.9),
    ("W4", "static", "expert", 0.35),
    ("W4", "static", "torch", 0.75),
    ("W5", "static_test", "expert", 0.6),
    ("W5", "static_test", "torch", 0.7),
    ("W5", "static_test", "onnxruntime", 2.0),
)


def _targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The performance targets the project set itself that this run measured, with the measured
    figure, for each thread count."""
    out: list[dict[str, Any]] = []
    w = results["workloads"]

    def add(target: str, value: float, limit: float, measured: str) -> None:
        out.append({"target": target, "value": value, "limit": limit, "met": value <= limit, "measured": measured})

    for n, t in w.get("W1", {}).get("threads", {}).items():
        if "static" in t:
            s = t["static"]
            add(f"W1 marginal cost <= 1.0 us/op ({n} threads)", s["per_op_us"], 1.0, f"{s['per_op_us']:.2f} us/op")
            add(f"W1 fixed cost <= 25 us/run ({n} threads)", s["fixed_us"], 25.0, f"{s['fixed_us']:.1f} us/run")
    for name, impl, other, limit in TIME_TARGETS:
        for n, t in w.get(name, {}).get("threads", {}).items():
            if impl in t and other in t:
                r = t[impl]["ms"] / t[other]["ms"]
                label = "expert numpy" if other == "expert" else other
                add(f"{name} {impl} <= {limit}x {label} ({n} threads)", r, limit, f"{r:.2f}x")
    rss = w.get("W3", {}).get("rss", {})
    base = "expert" if "expert" in rss else "numpy"
    if base in rss and "static" in rss and rss[base]["growth_mib"] > 0:
        r = rss["static"]["growth_mib"] / rss[base]["growth_mib"]
        add(
            f"W3 peak RSS growth <= 1.1x {base} numpy's",
            r,
            1.1,
            f"{r:.2f}x ({rss['static']['growth_mib']:.0f} vs {rss[base]['growth_mib']:.0f} MiB)",
        )
    imp = results.get("import")
    if imp:  # counted with numpy's own import (a fresh interpreter pays both)
        secs, mib = imp["numpy_s"] + imp["minigraph_s"], imp["numpy_mib"] + imp["minigraph_mib"]
        add("import minigraph (with numpy) adds <= 0.3 s", secs, 0.3, f"{secs:.3f} s")
        add("import minigraph (with numpy) adds <= 40 MiB", mib, 40.0, f"{mib:.1f} MiB")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repetitions (for tests)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON here")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W2,W3")
    parser.add_argument("--reps", type=int, default=0, help="timed repetitions (default 9, quick 2)")
    parser.add_argument(
        "--threads", default="", help="comma-separated thread counts, e.g. 1,2 (default: the BLAS default)"
    )
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--rss", metavar="IMPL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    reps = args.reps or (2 if args.quick else 9)
    quick = ["--quick"] if args.quick else []

    if args.worker:  # a subprocess: print one JSON line
        limit_threads()
        if args.worker == "import":
            out = import_worker()
        elif args.rss:
            out = rss_worker(args.worker, args.rss, args.quick)
        else:
            out = {"check": check(args.worker, args.quick)}
            out["time"] = time_workload(args.worker, args.quick, reps)
        print(json.dumps(out))
        return out

    chosen = [w.strip().upper() for w in args.only.split(",") if w.strip()] or list(WORKLOADS)
    counts: list[int | None] = [int(n) for n in args.threads.split(",") if n.strip()] or [None]
    main_env = threads_env(counts[-1])
    machine = _machine()
    machine["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results: dict[str, Any] = {"machine": machine, "quick": args.quick, "threads": counts, "workloads": {}}
    imports = [_sub(["--worker", "import"]) for _ in range(1 if args.quick else 5)]
    results["import"] = {k: statistics.median(i[k] for i in imports) for k in imports[0]}
    for w in chosen:
        r: dict[str, Any] = {"threads": {}}
        for n in counts:
            one = _sub(["--worker", w, "--reps", str(reps), *quick], env=threads_env(n))
            r["check"] = one["check"] if "check" not in r or one["check"]["ok"] is False else r["check"]
            r["threads"][str(n or machine.get("threads", "default"))] = r["time"] = one["time"]
        if w in ALLOCATOR_WORKLOADS and not args.quick:
            tuned = _sub(["--worker", w, "--reps", str(reps)], env={**(main_env or os.environ), **KEEP_MEMORY})
            r["time_keep_memory"] = tuned["time"]
        if not args.no_rss:
            impls = ("numpy", "static") if args.quick else tuple(k for k in r["time"] if k != "static_nofold")
            r["rss"] = {impl: _sub(["--worker", w, "--rss", impl, *quick], env=main_env) for impl in impls}
        results["workloads"][w] = r
    machine["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results["table"] = _table(results)
    results["targets"] = _targets(results)
    print(results["table"])
    print(f"load average before / after: {machine['load']} / {machine['load_after']}")
    if results["targets"] and not args.quick:  # tiny sizes say nothing about the targets
        print("\nperformance targets (minigraph over the expert numpy or a peer, same run):")
        for t in results["targets"]:
            print(f"  [{'met' if t['met'] else 'NOT met'}] {t['target']}: {t['measured']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    failed = [w for w, r in results["workloads"].items() if not r["check"]["ok"]]
    if failed:
        print(f"equality check FAILED for {failed}", file=sys.stderr)
        raise SystemExit(1)
    return results


if __name__ == "__main__":
    main()
