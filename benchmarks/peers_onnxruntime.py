"""onnxruntime running minigraph's own ONNX export of a model: an optional peer, timed when
`onnx` and `onnxruntime` import (the `onnx` extra: pip install -e '.[onnx]').

The model goes the deployment path: minigraph's inference model, exported with
`minigraph.onnx.export`, loaded in a CPU session with as many intra-op threads as everyone else (MG_BENCH_THREADS, set
by run.py; 2 by default).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
from common import Unavailable

try:
    import onnx  # noqa: F401  (the exporter needs it)
    import onnxruntime
except ImportError:  # pragma: no cover - depends on the environment
    onnxruntime = None


def infer(program: Any, feeds: list[str], fetches: list[Any], scope: Any, x: np.ndarray) -> Callable[[], Any]:
    """A step running the exported program on `x` (fed to the single feed) in onnxruntime."""
    if onnxruntime is None:
        raise Unavailable("onnx/onnxruntime are not installed")
    import minigraph.onnx

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("MG_BENCH_THREADS", "2"))
    options.inter_op_num_threads = 1
    # Its idle worker threads would otherwise spin for a while after each run, on the cores
    # the next implementation timed in this process (all are interleaved) needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    with tempfile.TemporaryDirectory() as d:
        path = minigraph.onnx.export(program, os.path.join(d, "model.onnx"), feed=feeds, fetch=fetches, scope=scope)
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {feeds[0]: x}
    return lambda: session.run(None, feed)[0]
