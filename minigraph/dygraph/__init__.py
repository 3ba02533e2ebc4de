"""Eager ("dygraph") mode: the same layers and op kernels, computed at once.

with minigraph.dygraph.guard():
    x = minigraph.dygraph.to_variable(np.ones((2, 3), "float32"))
    y = minigraph.nn.Linear(3, 4)(x)
    minigraph.layers.mean(y).backward()

fluid's names are here too: `dygraph.base.to_variable`, `dygraph.Layer` and the layer
classes of `dygraph.nn` (Conv2D, Pool2D, Linear, BatchNorm, Embedding, Dropout).
"""

from minigraph.dygraph import base, nn
from minigraph.dygraph.base import enabled, guard, no_grad, seed, to_variable
from minigraph.dygraph.builder import EagerBuilder
from minigraph.dygraph.nn import BatchNorm, Conv2D, Dropout, Embedding, Layer, Linear, Pool2D, Sequential

__all__ = [
    "BatchNorm",
    "Conv2D",
    "Dropout",
    "EagerBuilder",
    "Embedding",
    "Layer",
    "Linear",
    "Pool2D",
    "Sequential",
    "base",
    "enabled",
    "guard",
    "nn",
    "no_grad",
    "seed",
    "to_variable",
]
