"""W1: a chain of elementwise_add ops on [4, 4] float32, forward only: the engine's overhead.

A run of a chain of n ops costs about `fixed + n * marginal`; timing n = 10 and n = 200 gives
both. For the static executor `fixed` is the cost of one `Executor.run` (feed check, plan
cache lookup, fetch copy); `marginal` is the dispatch cost of one op on top of numpy's own
~0.3 µs for a [4, 4] add.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import reference as ref
from common import Eager, Static, Unavailable, rng

NAME = "W1"
TITLE = "chain of 200 elementwise_add on [4,4], forward"
IMPLS = ("numpy", "static", "eager", "torch")
LENGTHS = (10, 200)


def sizes(quick: bool) -> dict[str, int]:
    return {"n": 20 if quick else 200}


def setup(impl: str, quick: bool, full: bool = False, n: int | None = None) -> Callable[[], Any]:
    n = sizes(quick)["n"] if n is None else n
    g = rng(1)
    x = g.standard_normal((4, 4)).astype(np.float32)
    y = (0.01 * g.standard_normal((4, 4))).astype(np.float32)
    if impl == "numpy":
        return lambda: ref.chain(x, y, n)
    if impl == "static":
        import minigraph as mg

        def build() -> tuple[Any, Any, dict[str, str], Any]:
            xs = mg.data("x", [4, 4])
            ys = mg.create_parameter([4, 4], "float32", name="y")
            h = xs
            for _ in range(n):
                h = mg.layers.elementwise_add(h, ys)
            return None, h, {"y": "y"}, None

        st = Static(build, {"y": y})
        feed = {"x": x}
        fetch = [st.outputs]
        return lambda: st.run(feed, fetch)[0]
    if impl == "eager":
        ea = Eager(lambda: (None, {}), {})
        mg = ea.mg
        with ea.active():
            xv, yv = mg.dygraph.to_variable(x), mg.dygraph.to_variable(y)

        def step() -> np.ndarray:
            with ea.active():
                h = xv
                for _ in range(n):
                    h = mg.layers.elementwise_add(h, yv)
                return h.numpy()

        return step
    if impl == "torch":
        import peers_torch

        return peers_torch.chain(x, y, n)
    raise Unavailable(impl)
