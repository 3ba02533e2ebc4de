"""What tests/test_kernel_backends.py runs in fresh processes to check the quick cache loader
(minigraph/ops/kernel_cache.py): every op-table row of an op with compiled kernels, forward
in float32 and float64 and its gradients, and two training steps of the flagship's network,
on numba against numpy. Prints one JSON line:
{"rows": rows compared, "loaded": kernels loaded without the refresh, "refreshed": whether
numba's registries were loaded}. With `--compile-after`, it then compiles a kernel the disk
cache cannot hold (its source is made here) and runs it: the compiler must still work after
quick loads.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from minigraph.ops import backend, kernel_cache
from minigraph.testing import static_gradients
from tests.test_kernel_backends import GRAD_ROWS, ROWS, _close, _outputs

# numba's registry refresh imports this module; nothing else here does
REFRESH_MARK = "numba.np.linalg"


def compare_rows() -> int:
    for case in ROWS:
        for dtype in ("float32", "float64"):
            with backend.forced("numpy"):
                want = _outputs(case, dtype)
            with backend.forced("numba"):
                got = _outputs(case, dtype)
            for slot in want:
                _close(got[slot], want[slot], dtype, f"{case.id}: {slot}")
    for case in GRAD_ROWS:
        with backend.forced("numpy"):
            want_grads = static_gradients(case)
        with backend.forced("numba"):
            got_grads = static_gradients(case)
        for g, w in zip(got_grads, want_grads):
            _close(g, w, "float64", case.id)
    for got, want in zip(train_steps("numba"), train_steps("numpy")):
        _close(got, want, "float32", "flagship-sized training steps")
    return len(ROWS) + len(GRAD_ROWS)


def train_steps(kernels: str, steps: int = 2) -> list[np.ndarray]:
    """The flagship's network at its size (the op tables' inputs are too small for some of
    the compiled paths): losses of `steps` Momentum steps and the final weights."""
    import minigraph as mg

    rng = np.random.default_rng(0)
    x = rng.random((32, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, (32, 1))
    main, startup = mg.Program(), mg.Program()
    startup.random_seed = 1
    with mg.program_guard(main, startup), backend.forced(kernels):
        image = mg.data("image", shape=[None, 1, 8, 8], dtype="float32")
        label = mg.data("label", shape=[None, 1], dtype="int64")
        h = image
        for filters in (16, 32):
            h = mg.layers.conv2d(h, num_filters=filters, filter_size=3, padding=1, bias_attr=False)
            h = mg.layers.pool2d(mg.layers.batch_norm(h, act="relu"), pool_size=2, pool_type="max", pool_stride=2)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(mg.layers.fc(h, size=10), label))
        mg.optimizer.Momentum(0.05, momentum=0.9).minimize(loss)
        exe, scope = mg.Executor(), mg.Scope()
        with mg.scope_guard(scope):
            exe.run(startup)
            losses = [exe.run(main, feed={"image": x, "label": y}, fetch_list=[loss])[0] for _ in range(steps)]
        return losses + [np.asarray(scope.find_var(p.name).get_tensor()) for p in main.all_parameters()]


def compile_new_kernel() -> float:
    namespace: dict = {}
    exec("def doubled_sum(x):\n    s = 0.0\n    for v in x:\n        s += 2.0 * v\n    return s\n", namespace)
    fn = namespace["doubled_sum"]
    import numba

    kernel = numba.njit(fn)  # no cache: a source made at run time has no file to cache beside
    return float(kernel(np.arange(4.0)))


def main() -> None:
    summary = {
        "rows": compare_rows(),
        "loaded": kernel_cache.loaded(),
        "refreshed": REFRESH_MARK in sys.modules,
    }
    if "--compile-after" in sys.argv:
        summary["compiled"] = compile_new_kernel()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
