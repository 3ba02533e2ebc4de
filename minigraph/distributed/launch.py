"""Start a data-parallel job: `python -m minigraph.distributed.launch --nproc N script.py [args]`.

Runs `mpiexec -n N <this python> script.py args...`, with the `mpiexec` installed next to
this Python (the `mpich` wheel puts it in the virtual environment's bin/) or else the one on
PATH, and exits with the job's status: non-zero when any rank failed.

The processes get OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS of
max(1, cores // N) each, unless the user set them (minigraph.distributed.threads): N ranks
each running one BLAS thread per core would oversubscribe the cores many times over.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence

from minigraph.distributed.threads import cpu_count, launch_thread_env
from minigraph.errors import MinigraphError


def find_mpiexec() -> str:
    """This environment's mpiexec (next to sys.executable), else the first on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.access(here, os.X_OK):
        return here
    found = shutil.which("mpiexec")
    if found is None:
        raise MinigraphError("no mpiexec found: pip install 'minigraph[distributed]' (mpi4py and mpich)")
    return found


def command(nproc: int, script: str, args: Sequence[str], mpiexec: str | None = None) -> list[str]:
    """The mpiexec command line that runs `script args` on `nproc` processes."""
    return [mpiexec or find_mpiexec(), "-n", str(nproc), sys.executable, script, *args]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minigraph.distributed.launch",
        description="Run a training script on N processes with mpiexec.",
    )
    parser.add_argument("--nproc", "--nproc_per_node", type=int, default=1, help="number of processes (default 1)")
    parser.add_argument("--mpiexec", default=None, help="the mpiexec to use (default: the environment's)")
    parser.add_argument("script", help="the Python script every process runs")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    opts = parser.parse_args(argv)
    if opts.nproc < 1:
        parser.error(f"--nproc must be at least 1, got {opts.nproc}")
    try:
        cmd = command(opts.nproc, opts.script, opts.args, opts.mpiexec)
    except MinigraphError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    added = launch_thread_env(os.environ, opts.nproc, cpu_count())
    if added:
        settings = " ".join(f"{k}={v}" for k, v in added.items())
        print(
            f"[minigraph.distributed.launch] {opts.nproc} processes on {cpu_count()} cores: {settings} for each "
            f"(set these variables yourself to choose another number of threads)",
            file=sys.stderr,
            flush=True,
        )
    proc = subprocess.Popen(cmd, env={**os.environ, **added})
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # mpiexec forwards the interrupt to every rank
        proc.send_signal(signal.SIGINT)
        code = proc.wait()
    return 128 - code if code < 0 else code  # killed by signal s: the shell's 128 + s


if __name__ == "__main__":
    sys.exit(main())
