"""Optimizers: `minimize(loss)` appends the backward pass, gradient clipping,
regularization and one update op per parameter.

    mg.optimizer.Momentum(0.1, momentum=0.9).minimize(loss)
"""

from minigraph.optimizer.adam import Adam, AdamOptimizer
from minigraph.optimizer.adam_variants import Adamax, AdamaxOptimizer, AdamW, Lamb, LambOptimizer
from minigraph.optimizer.adaptive import (
    Adagrad,
    AdagradOptimizer,
    DecayedAdagrad,
    DecayedAdagradOptimizer,
    Ftrl,
    FtrlOptimizer,
    RMSProp,
    RMSPropOptimizer,
)
from minigraph.optimizer.base import Optimizer, UpdateOp
from minigraph.optimizer.model_average import ModelAverage, ModelAverageError
from minigraph.optimizer.momentum import Momentum, MomentumOptimizer
from minigraph.optimizer.sgd import SGD, SGDOptimizer

__all__ = [
    "SGD",
    "Adagrad",
    "AdagradOptimizer",
    "Adam",
    "AdamOptimizer",
    "AdamW",
    "Adamax",
    "AdamaxOptimizer",
    "DecayedAdagrad",
    "DecayedAdagradOptimizer",
    "Ftrl",
    "FtrlOptimizer",
    "Lamb",
    "LambOptimizer",
    "RMSProp",
    "RMSPropOptimizer",
    "ModelAverage",
    "ModelAverageError",
    "Momentum",
    "MomentumOptimizer",
    "Optimizer",
    "SGDOptimizer",
    "UpdateOp",
]
