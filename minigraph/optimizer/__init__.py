"""Optimizers: `minimize(loss)` appends the backward pass, gradient clipping,
regularization and one update op per parameter.

    mg.optimizer.Momentum(0.1, momentum=0.9).minimize(loss)
"""

from minigraph.optimizer.adam import Adam, AdamOptimizer
from minigraph.optimizer.base import Optimizer, UpdateOp
from minigraph.optimizer.momentum import Momentum, MomentumOptimizer
from minigraph.optimizer.sgd import SGD, SGDOptimizer

# ModelAverage lives in minigraph/optimizer/model_average.py (built on Optimizer's
# accumulator helpers) and is re-exported here once it exists.

__all__ = [
    "SGD",
    "Adam",
    "AdamOptimizer",
    "Momentum",
    "MomentumOptimizer",
    "Optimizer",
    "SGDOptimizer",
    "UpdateOp",
]
