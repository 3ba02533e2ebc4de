"""Checkpoints of a data-parallel job: written once, by rank 0, read by every rank.

Every rank holds the same parameters and optimizer state (they start from rank 0's
broadcast and apply the same averaged gradients), so rank 0's copy is the job's. The
other ranks wait at a barrier until the files are in place; rank 0 tells them whether the
save worked, so a failed save raises on every rank instead of leaving some waiting.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from minigraph import io
from minigraph.distributed.env import init_parallel_env
from minigraph.errors import MinigraphError
from minigraph.ir.program import Program
from minigraph.ops import comm


def save_persistables(
    executor: Any,
    dirname: str | os.PathLike[str],
    main_program: Program | None = None,
    filename: str | None = None,
    scope: Any = None,
) -> None:
    """minigraph.io.save_persistables on rank 0 only (atomic), then every rank continues.
    Call it on every rank.

        dist.save_persistables(exe, "ckpt", main)          # every rank
        mg.io.load_persistables(exe, "ckpt", main)         # resume: every rank loads
    """
    env = init_parallel_env()
    failure = None
    if env.rank == 0:
        try:
            io.save_persistables(executor, dirname, main_program=main_program, filename=filename, scope=scope)
        except Exception as e:  # reported to every rank below, then re-raised here
            failure = e
    status = np.array([0 if failure is None else 1], dtype=np.int64)
    comm.world().bcast(status, 0)
    if failure is not None:
        raise failure
    if status[0]:
        raise MinigraphError(f"rank 0 failed to save the checkpoint in {os.fspath(dirname)!r} (see rank 0's error)")


# Every rank reads the same files: loading needs no coordination.
load_persistables = io.load_persistables
