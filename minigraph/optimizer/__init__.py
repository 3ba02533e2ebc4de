"""Optimizers: `minimize(loss)` appends the backward pass, gradient clipping,
regularization and one update op per parameter.

    mg.optimizer.Momentum(0.1, momentum=0.9).minimize(loss)
"""

from minigraph.optimizer.adam import Adam, AdamOptimizer
from minigraph.optimizer.base import Optimizer, UpdateOp
from minigraph.optimizer.model_average import ModelAverage, ModelAverageError
from minigraph.optimizer.momentum import Momentum, MomentumOptimizer
from minigraph.optimizer.sgd import SGD, SGDOptimizer

__all__ = [
    "SGD",
    "Adam",
    "AdamOptimizer",
    "ModelAverage",
    "ModelAverageError",
    "Momentum",
    "MomentumOptimizer",
    "Optimizer",
    "SGDOptimizer",
    "UpdateOp",
]
