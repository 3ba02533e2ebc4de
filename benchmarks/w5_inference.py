"""W5: W3's network in test mode (running statistics), batch 256, forward only.

minigraph's static variant is the user's deployment path: `save_inference_model` (which
folds each batch_norm into the convolution before it) then `load_inference_model`;
`static_nofold` saves with `fold_batch_norm=False`; `static_test` runs the plain
`clone(for_test=True)` of the training program, where the executor's default BuildStrategy
folds the batch_norms at compile time (recomputing the folded weights every run). The
numpy reference folds by hand, once, outside the timed step (as the save does).
`onnxruntime` runs the loaded (folded) model exported by `minigraph.onnx.export`, when
onnx and onnxruntime are installed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import expert
import numpy as np
import reference as ref
import w3_cnn
from common import Eager, Static, Unavailable

NAME = "W5"
TITLE = "W3's CNN in test mode, batch 256 (batch_norm folded)"
IMPLS = ("numpy", "expert", "static", "static_nofold", "static_test", "eager", "torch", "paddle", "onnxruntime")


def sizes(quick: bool) -> dict[str, int]:
    return w3_cnn.sizes(quick, batch=8 if quick else 256)


def _saved_model(s: dict[str, int], w: dict[str, np.ndarray], fold: bool) -> tuple[Any, Any, Any, Any]:
    import minigraph as mg

    def build() -> tuple[Any, Any, dict[str, str], Any]:
        xs = mg_data(s)
        net, names = w3_cnn.model(s)
        return net, net(xs), names, None

    st = Static(build, w)
    scope = mg.Scope()
    with tempfile.TemporaryDirectory() as d:
        kwargs = {} if fold else {"fold_batch_norm": False}
        mg.io.save_inference_model(d, ["x"], [st.outputs], st.exe, main_program=st.main, scope=st.scope, **kwargs)
        program, feeds, fetches = mg.io.load_inference_model(d, st.exe, scope=scope)
    return st.exe, program, fetches, scope


def mg_data(s: dict[str, int]) -> Any:
    import minigraph as mg

    return mg.data("x", [None, s["c"], s["hw"], s["hw"]])


def setup(impl: str, quick: bool, full: bool = False) -> Callable[[], Any]:
    s = sizes(quick)
    w = w3_cnn.weights(s)
    x, _ = w3_cnn.batch(s)
    if impl == "numpy":
        folded = ref.fold_cnn(w)
        return lambda: ref.cnn_infer_folded(folded, x)
    if impl == "expert":
        return expert.cnn_infer_setup(w, x)
    if impl in ("static", "static_nofold"):
        exe, program, fetches, scope = _saved_model(s, w, fold=impl == "static")
        feed = {"x": x}
        return lambda: exe.run(program, feed=feed, fetch_list=fetches, scope=scope)[0]
    if impl == "static_test":

        def build() -> tuple[Any, Any, dict[str, str], Any]:
            net, names = w3_cnn.model(s)
            return net, net(mg_data(s)), names, None

        st = Static(build, w)
        test = st.main.clone(for_test=True)
        feed = {"x": x}
        return lambda: st.exe.run(test, feed=feed, fetch_list=[st.outputs], scope=st.scope)[0]
    if impl == "eager":
        ea = Eager(lambda: w3_cnn.model(s), w)
        mg = ea.mg
        ea.net.eval()

        def step() -> np.ndarray:
            with ea.active(), mg.dygraph.no_grad():
                return ea.net(mg.dygraph.to_variable(x)).numpy()

        return step
    if impl == "torch":
        import peers_torch

        return peers_torch.cnn_infer(w, x)
    if impl == "paddle":
        import peers_paddle

        return peers_paddle.cnn_infer(w, x)
    if impl == "onnxruntime":
        import peers_onnxruntime

        _, program, fetches, scope = _saved_model(s, w, fold=True)
        return peers_onnxruntime.infer(program, ["x"], fetches, scope, x)
    raise Unavailable(impl)
