"""W4: batch_norm forward + backward on [32, 64, 56, 56] float32, training mode (batch
statistics, running statistics updated), with a given upstream gradient dY.

The timed minigraph run fetches only dScale and dBias (fetches are copies; copying dX would
add a 25 MB memcpy the numpy reference does not pay), but dX is still computed every run.
There is no eager variant: eager `backward()` starts from a scalar loss, which would add ops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import expert
import numpy as np
import reference as ref
from common import Static, Unavailable, bn_weights, rng

NAME = "W4"
TITLE = "batch_norm fwd+bwd, [32,64,56,56] float32, training"
IMPLS = ("numpy", "expert", "static", "torch", "paddle")


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"n": 4, "c": 8, "hw": 6}
    return {"n": 32, "c": 64, "hw": 56}


def data(quick: bool) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    s = sizes(quick)
    g = rng(5)
    shape = (s["n"], s["c"], s["hw"], s["hw"])
    # an offset mean per channel, as real activations have
    x = (g.standard_normal(shape) + g.standard_normal((1, s["c"], 1, 1))).astype(np.float32)
    dy = g.standard_normal(shape).astype(np.float32)
    return bn_weights(g, "", s["c"]), x, dy


def setup(impl: str, quick: bool, full: bool = False) -> Callable[[], Any]:
    s = sizes(quick)
    w, x, dy = data(quick)
    if impl == "numpy":
        wn = {k: v.copy() for k, v in w.items()}

        def step() -> Any:
            y, cache = ref.bn_forward(x, wn["g"], wn["be"], ref.NCHW_AXES)
            dx, dg, db = ref.bn_backward(dy, cache, wn["g"], ref.NCHW_AXES)
            ref.bn_update_running(wn, "", cache)
            return (y, dx, dg, db, wn["rm"], wn["rv"]) if full else (dg, db)

        return step
    if impl == "expert":
        return expert.bn_nchw_setup(w, x, dy, full)
    if impl == "static":
        import minigraph as mg

        def build() -> tuple[Any, Any, dict[str, str], Any]:
            xs = mg.data("x", [None, s["c"], s["hw"], s["hw"]])
            xs.stop_gradient = False
            dys = mg.data("dy", [None, s["c"], s["hw"], s["hw"]])
            bn = mg.nn.BatchNorm(s["c"])
            y = bn(xs)
            dx, dg, db = mg.gradients([y], [xs, bn.weight, bn.bias], target_gradients=[dys])
            names = {"g": bn.weight.name, "be": bn.bias.name, "rm": bn.moving_mean.name, "rv": bn.moving_variance.name}
            fetch = [y, dx, dg, db, bn.moving_mean, bn.moving_variance] if full else [dg, db]
            return bn, fetch, names, None

        st = Static(build, w)
        feed = {"x": x, "dy": dy}
        return lambda: st.run(feed, st.outputs)
    if impl == "torch":
        import peers_torch

        return peers_torch.bn_step(w, x, dy, full)
    if impl == "paddle":
        import peers_paddle

        return peers_paddle.bn_step(w, x, dy, full)
    raise Unavailable(impl)
