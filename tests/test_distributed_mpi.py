"""Data parallelism across real processes: each test launches `mpiexec -n 2` (bounded by a
timeout, so a hang fails the test instead of stalling the suite) on tests/distributed_worker.py
or the example, and compares what the ranks computed with one process on the whole batch.

Skipped without mpi4py/mpiexec, except under CI, where they are required (tests/conftest.py's
rule; .ci/run installs minigraph[distributed]).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from minigraph.distributed.launch import find_mpiexec
from minigraph.distributed.threads import THREAD_VARS
from minigraph.ops.blas import find_blas
from tests import distributed_worker as worker

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "distributed_worker.py"
TIMEOUT = 120  # seconds for one launch (a few seconds normally; a hang must fail, not stall CI)


pytestmark = pytest.mark.usefixtures("requires_mpi")


def job_env(blas_threads: str | None = "1") -> dict[str, str]:
    """This environment for a job: OPENBLAS_NUM_THREADS=blas_threads, or with None no
    thread variable at all (what a newcomer's shell has)."""
    env = {k: v for k, v in os.environ.items() if blas_threads is not None or k not in THREAD_VARS}
    if blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = blas_threads
    return {**env, "PYTHONPATH": str(ROOT)}


def mpirun(
    args: list[str], n: int = 2, timeout: float = TIMEOUT, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> tuple[int, str, str, float]:
    """Run `python args...` on n processes; (exit status, stdout, stderr, seconds). The
    whole process group is killed if it outlives `timeout`, and the test fails."""
    cmd = [find_mpiexec(), "-n", str(n), sys.executable, *args]
    env = env or job_env()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(
            f"mpiexec did not finish within {timeout} s (hang?)\nstdout:\n{out[-2000:]}\nstderr:\n{err[-3000:]}"
        )
    return proc.returncode, out, err, time.perf_counter() - t0


def run_worker(scenario: str, outdir: Path) -> None:
    code, out, err, _ = mpirun([str(WORKER), scenario, str(outdir)])
    assert code == 0, f"worker {scenario} failed ({code}):\n{out[-2000:]}\n{err[-4000:]}"


def load(outdir: Path, tag: str, rank: int) -> dict[str, np.ndarray]:
    with np.load(outdir / f"{tag}_r{rank}.npz") as f:
        return dict(f)


def close(got: np.ndarray, want: np.ndarray, rtol: float) -> bool:
    """Relative agreement of whole arrays: |got - want| <= rtol * |want| (2-norms)."""
    return bool(np.linalg.norm(got - want) <= rtol * max(np.linalg.norm(want), 1e-30))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("dist_train")
    run_worker("train", outdir)
    return outdir


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_two_processes_with_sync_batch_norm_match_one_process_on_the_whole_batch(trained, mode):
    ref = worker.train_static(5, distributed=False) if mode == "static" else worker.train_eager(5, distributed=False)
    ranks = [load(trained, f"{mode}_sync", r) for r in (0, 1)]
    # the job's loss is the mean of the ranks' losses (equal local batches)
    np.testing.assert_allclose((ranks[0]["loss"] + ranks[1]["loss"]) / 2, ref["loss"], rtol=1e-5)
    final = ref["state"][-1]
    assert len(final) == 12  # weights, biases, scales and every moving mean/variance
    for name, want in final.items():
        for r in (0, 1):
            got = ranks[r][f"state4/{name}"]
            assert close(got, want, 1e-5), f"{mode} rank {r}: {name} differs from one process by more than 1e-5"
        # moving statistics included: every rank holds the same values, bit for bit
        np.testing.assert_array_equal(ranks[0][f"state4/{name}"], ranks[1][f"state4/{name}"], err_msg=name)


def test_without_sync_the_parameters_are_bit_identical_across_ranks_after_every_step(trained):
    ranks = [load(trained, "static_plain", r) for r in (0, 1)]
    trainable = [k.split("/", 1)[1] for k in ranks[0] if k.startswith("state0/") and not k.endswith(("w_1", "w_2"))]
    assert len(trainable) == 8
    for step in range(5):
        for name in trainable:
            key = f"state{step}/{name}"
            np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=f"step {step}: {key}")
    # the ranks' batches differ, so their (unsynchronised) moving statistics do
    assert not np.array_equal(ranks[0]["state4/batch_norm_0.w_1"], ranks[1]["state4/batch_norm_0.w_1"])


@pytest.fixture(scope="module")
def grad_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("dist_grad")
    run_worker("grad", outdir)
    return outdir


def test_averaged_gradient_equals_the_full_batch_gradient_in_float64(grad_run):
    ref = worker.train_static(1, distributed=False, dtype="float64")["grads"]
    ranks = [load(grad_run, "grad64", r) for r in (0, 1)]
    for name, want in ref.items():
        for r in (0, 1):
            got = ranks[r][f"grad/{name}"]
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max(), err_msg=name)


def test_collective_ops_and_their_gradients_across_two_processes(grad_run):
    x = [worker.collective_inputs(r) for r in (0, 1)]
    both = x[0] + x[1]
    full = np.concatenate([both, 2 * both])  # what c_reducescatter reduces, before splitting
    ops = ("c_allreduce_sum", "c_allreduce_avg", "c_broadcast", "c_reduce_sum", "c_allgather", "c_reducescatter")
    w = {op: [worker.collective_weights(op, r, 2) for r in (0, 1)] for op in ops}
    for r in (0, 1):
        g = load(grad_run, "collectives", r)
        np.testing.assert_allclose(g["c_allreduce_sum/out"], both)
        np.testing.assert_allclose(g["c_allreduce_avg/out"], both / 2)
        np.testing.assert_allclose(g["c_allreduce_max/out"], np.maximum(x[0], x[1]))
        np.testing.assert_allclose(g["c_broadcast/out"], x[1])  # root 1
        np.testing.assert_allclose(g["c_reduce_sum/out"], both if r == 1 else np.zeros((2, 3)))
        np.testing.assert_allclose(g["c_allgather/out"], np.concatenate(x))
        np.testing.assert_allclose(g["c_reducescatter/out"], full[2 * r : 2 * r + 2])
        # d/dx_r of the job's loss, the sum over ranks k of sum(w_k * out_k)
        ws = {op: w[op][0] + w[op][1] for op in ops}
        want = {
            "c_allreduce_sum": ws["c_allreduce_sum"],
            "c_allreduce_avg": ws["c_allreduce_avg"] / 2,
            "c_broadcast": ws["c_broadcast"] if r == 1 else np.zeros((2, 3)),
            "c_reduce_sum": w["c_reduce_sum"][1],
            "c_allgather": ws["c_allgather"][2 * r : 2 * r + 2],
            "c_reducescatter": (lambda s: s[:2] + 2 * s[2:])(np.concatenate(w["c_reducescatter"])),
        }
        for op, expected in want.items():
            np.testing.assert_allclose(g[f"{op}/grad"], expected, rtol=1e-12, err_msg=f"rank {r}: {op}")
        np.testing.assert_allclose(g["bucket_sum_a"], np.full(3, 3.0))
        np.testing.assert_allclose(g["bucket_sum_b"], np.arange(4.0) * 3)
        np.testing.assert_allclose(g["bucket_avg"], np.arange(4.0) * 1.5)


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_a_failing_rank_ends_the_whole_job_promptly(tmp_path, how):
    code, out, err, seconds = mpirun([str(WORKER), how, str(tmp_path)], timeout=60)
    assert code != 0
    assert seconds < 30, f"the job took {seconds:.1f} s to end after rank 1 failed"
    if how == "raise":
        assert "rank 1 of 2 failed" in err
        assert "RuntimeError: injected failure on rank 1 at step 3" in err
        assert "Traceback" in err
    else:
        assert "signal 9" in (out + err) or "Killed" in (out + err)


def test_resume_from_a_rank0_checkpoint_continues_like_an_uninterrupted_run(tmp_path):
    run_worker("full", tmp_path)
    written = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    # One manifest naming one content-addressed archive, written by rank 0 alone.
    assert len(written) == 2 and written[1] == "persistables.json"
    assert written[0].startswith("persistables.") and written[0].endswith(".npz")
    run_worker("resume", tmp_path)
    for r in (0, 1):
        full, resumed = load(tmp_path, "full", r), load(tmp_path, "resume", r)
        assert any(k.startswith("averaged/") for k in full)  # ModelAverage state is resumed too
        for name in full:
            np.testing.assert_array_equal(resumed[name], full[name], err_msg=f"rank {r}: {name}")


def test_example_runs_on_two_processes_through_the_launcher(tmp_path):
    code, out, err, _ = _launch(
        ["--nproc", "2", str(ROOT / "examples" / "train_digits_distributed.py"), "--epochs", "1", "--limit", "320"]
        + ["--quiet", "--out", str(tmp_path / "run")]
    )
    assert code == 0, err[-4000:]
    assert "2 process(es) x batch 16: test accuracy" in out
    assert (tmp_path / "run" / "checkpoint" / "persistables.json").exists()


def test_launcher_forwards_the_exit_status(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import sys\nsys.exit(3)\n")
    code, _, _, _ = _launch(["--nproc", "2", str(script)])
    assert code == 3


def _launch(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str, float]:
    env = env or job_env()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "minigraph.distributed.launch", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=TIMEOUT,
    )
    return proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0


def test_the_launcher_finds_the_environments_mpiexec(requires_mpi):
    assert find_mpiexec() == requires_mpi and shutil.which(requires_mpi)


# --- BLAS threads per rank (minigraph.distributed.threads) -------------------------------------

# Each rank writes {rank, BLAS threads before and after init_parallel_env, thread variables}
# to OUTDIR/<rank>.json (files, not stdout: mpiexec may join the ranks' lines).
REPORT_THREADS = (
    "import json, os, sys; from minigraph.distributed import threads; from minigraph.ops.blas import blas_threads; before = blas_threads(); "
    "import minigraph.distributed as dist; env = dist.init_parallel_env(); "
    "report = {'rank': env.rank, 'before': before, 'after': blas_threads(), "
    "'vars': {k: os.environ.get(k) for k in threads.THREAD_VARS}}; "
    "open(os.path.join(sys.argv[1], f'{env.rank}.json'), 'w').write(json.dumps(report))"
)


def _require_blas_control() -> None:
    if find_blas() is None:
        pytest.skip("no BLAS whose threads minigraph can read and set (needs OpenBLAS or threadpoolctl)")


def _rank_reports(outdir: Path) -> dict[int, dict]:
    reports = {int(p.stem): json.loads(p.read_text()) for p in outdir.glob("*.json")}
    assert sorted(reports) == [0, 1] and all(r["rank"] == k for k, r in reports.items()), reports
    for p in outdir.glob("*.json"):
        p.unlink()  # the next run in the same test starts clean
    return reports


def test_a_bare_mpiexec_job_gets_its_share_of_the_cores_in_blas_threads(tmp_path):
    """No thread variable set: numpy's OpenBLAS starts a thread per core in each rank, and
    init_parallel_env lowers it to cores // 2 (2 ranks x 2 threads on 2 cores ran 20x slower)."""
    _require_blas_control()
    code, out, err, _ = mpirun(["-c", REPORT_THREADS, str(tmp_path)], env=job_env(None))
    assert code == 0, err[-3000:]
    cores = os.cpu_count() or 1
    for rank, report in _rank_reports(tmp_path).items():
        assert report["vars"] == dict.fromkeys(THREAD_VARS), report
        assert report["before"] == cores, f"rank {rank}: OpenBLAS started {report['before']} threads"
        assert report["after"] == max(1, cores // 2), f"rank {rank}: {report}"
    if cores >= 2:  # one line from the host's first rank, not one per rank
        assert err.count("BLAS threads per process") == 1, err


def test_a_thread_variable_the_user_set_is_left_alone_under_mpiexec(tmp_path):
    _require_blas_control()
    code, out, err, _ = mpirun(["-c", REPORT_THREADS, str(tmp_path)], env=job_env("2"))
    assert code == 0, err[-3000:]
    for report in _rank_reports(tmp_path).values():
        assert report["before"] == report["after"] == 2
    assert "BLAS threads per process" not in err


def test_the_launcher_sets_the_thread_variables_for_its_processes_and_says_so(tmp_path):
    _require_blas_control()
    script = tmp_path / "show_threads.py"
    script.write_text(REPORT_THREADS.replace("; ", "\n") + "\n")
    env = job_env(None)
    code, out, err, _ = _launch(["--nproc", "2", str(script), str(tmp_path)], env=env)
    assert code == 0, err[-3000:]
    share = str(max(1, (os.cpu_count() or 1) // 2))
    for report in _rank_reports(tmp_path).values():
        assert report["vars"] == dict.fromkeys(THREAD_VARS, share)
        assert report["before"] == report["after"] == int(share)  # OpenBLAS started with the share
    assert err.count("[minigraph.distributed.launch] 2 processes") == 1, err
    # the user's OMP_NUM_THREADS is kept, and OpenBLAS/MKL fall back to it
    code, out, err, _ = _launch(["--nproc", "2", str(script), str(tmp_path)], env={**env, "OMP_NUM_THREADS": "2"})
    assert code == 0, err[-3000:]
    for report in _rank_reports(tmp_path).values():
        assert report["vars"] == {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": None, "MKL_NUM_THREADS": None}
        assert report["after"] == 2
    assert "[minigraph.distributed.launch]" not in err
