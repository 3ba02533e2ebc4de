"""BLAS threads per process (minigraph.distributed.threads): the rule, which user settings
win, and that the run-time limit really changes the loaded OpenBLAS's thread count.

The job-level checks (a bare `mpiexec -n 2` and the launcher) are in test_distributed_mpi.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minigraph.distributed import threads
from minigraph.ops import blas

ROOT = Path(__file__).resolve().parents[1]
BLOCK_THREADPOOLCTL = "import sys; sys.modules['threadpoolctl'] = None; "  # `import threadpoolctl` raises


@pytest.mark.parametrize(
    ("cores", "ranks", "want"),
    [(2, 2, 1), (2, 1, 2), (8, 2, 4), (8, 3, 2), (2, 4, 1), (1, 2, 1), (16, 16, 1), (3, 0, 3)],
)
def test_threads_per_process_is_the_cores_share_and_at_least_one(cores, ranks, want):
    assert threads.threads_per_process(cores, ranks) == want


def test_the_launcher_fills_every_thread_variable_the_user_left_unset():
    assert threads.launch_thread_env({}, 2, 2) == {
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    assert threads.launch_thread_env({"PATH": "/bin"}, 2, 8) == dict.fromkeys(threads.THREAD_VARS, "4")
    assert threads.launch_thread_env({}, 4, 2) == dict.fromkeys(threads.THREAD_VARS, "1")


def test_a_thread_variable_the_user_set_wins():
    # OPENBLAS_NUM_THREADS set: kept (not in the additions), the others filled
    assert threads.launch_thread_env({"OPENBLAS_NUM_THREADS": "2"}, 2, 2) == {
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    assert threads.launch_thread_env({"MKL_NUM_THREADS": "3"}, 2, 8) == {
        "OMP_NUM_THREADS": "4",
        "OPENBLAS_NUM_THREADS": "4",
    }
    # OMP_NUM_THREADS is what OpenBLAS and MKL fall back to: setting theirs would override it
    assert threads.launch_thread_env({"OMP_NUM_THREADS": "2"}, 2, 2) == {}
    # an empty value is unset (OpenBLAS ignores it too)
    assert threads.launch_thread_env({"OMP_NUM_THREADS": " "}, 2, 2) == dict.fromkeys(threads.THREAD_VARS, "1")
    assert threads.user_thread_vars({"OMP_NUM_THREADS": "", "MKL_NUM_THREADS": "1", "X": "2"}) == ["MKL_NUM_THREADS"]


@pytest.mark.parametrize(
    ("current", "ranks", "cores", "want"),
    [
        (2, 2, 2, 1),  # this machine: 2 ranks x 2 threads on 2 cores
        (2, 1, 2, None),  # one rank fits
        (8, 2, 8, 4),
        (4, 2, 8, None),  # 2 x 4 fits on 8
        (1, 4, 2, None),  # already 1 thread: nothing lower to set
        (3, 2, 4, 2),
    ],
)
def test_the_run_time_limit_applies_only_when_the_ranks_oversubscribe_the_cores(current, ranks, cores, want):
    assert threads.blas_target(current, ranks, cores) == want


def test_the_run_time_limit_leaves_a_users_thread_variable_alone():
    before = blas.blas_threads()
    assert threads.limit_blas_threads(64, environ={"OPENBLAS_NUM_THREADS": "7"}) is None
    assert blas.blas_threads() == before


def _run(code: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in threads.THREAD_VARS}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Sets 3 then 1 thread(s) and reads each back from the library itself (3: above the core
# count of a 1- or 2-core machine, so the first change is a real change there too).
SET_AND_READ = """
import json, numpy as np
from minigraph.ops import blas as blas_module
blas = blas_module.find_blas()
ctypes_blas = blas_module.openblas()
start = blas.get()
blas.set(3)
three = (blas.get(), ctypes_blas.get())
blas.set(1)
one = (blas.get(), ctypes_blas.get())
a = np.ones((256, 256)); assert float((a @ a)[0, 0]) == 256.0  # BLAS still computes
print(json.dumps({"how": blas.how, "start": start, "three": three, "one": one}))
"""


def _require_openblas() -> None:
    if blas.openblas() is None:
        pytest.skip("numpy here is not linked to an OpenBLAS with openblas_get/set_num_threads")


def test_the_ctypes_path_changes_openblas_thread_count_in_a_fresh_process():
    _require_openblas()
    got = _run(BLOCK_THREADPOOLCTL + SET_AND_READ)
    assert got["how"] == "ctypes"
    assert got["start"] >= 1  # OpenBLAS's default (one per core, unless the environment says)
    assert got["three"] == [3, 3]
    assert got["one"] == [1, 1]


@pytest.mark.skipif(importlib.util.find_spec("threadpoolctl") is None, reason="threadpoolctl is not installed")
def test_the_threadpoolctl_path_changes_openblas_thread_count_in_a_fresh_process():
    _require_openblas()
    got = _run(SET_AND_READ)
    assert got["how"] == "threadpoolctl"
    assert got["three"] == [3, 3]  # and OpenBLAS's own getter agrees
    assert got["one"] == [1, 1]


def test_without_any_controllable_blas_it_warns_once_naming_the_variables():
    code = (
        "import json, warnings; from minigraph.distributed import threads; "
        "threads.find_blas = lambda: None; "
        "warnings.simplefilter('always'); "
        "ws = []\n"
        "with warnings.catch_warnings(record=True) as ws:\n"
        "    warnings.simplefilter('always')\n"
        "    r = [threads.limit_blas_threads(2), threads.limit_blas_threads(2)]\n"
        "print(json.dumps({'r': r, 'w': [str(w.message) for w in ws], 'c': [w.category.__name__ for w in ws]}))"
    )
    got = _run(code)
    assert got["r"] == [None, None]
    assert len(got["w"]) == 1 and got["c"] == ["RuntimeWarning"]
    for name in threads.THREAD_VARS:
        assert name in got["w"][0]
