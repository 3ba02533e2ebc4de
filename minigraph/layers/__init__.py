"""Functional layer builders: in static mode each appends ops to the current program."""

from minigraph.layers.activation import *  # noqa: F403
from minigraph.layers.conv import *  # noqa: F403
from minigraph.layers.image import *  # noqa: F403
from minigraph.layers.indexing import *  # noqa: F403
from minigraph.layers.learning_rate_scheduler import *  # noqa: F403
from minigraph.layers.loss import *  # noqa: F403
from minigraph.layers.manip import *  # noqa: F403
from minigraph.layers.math import (
    clip,
    elementwise_add,
    elementwise_div,
    elementwise_max,
    elementwise_min,
    elementwise_mul,
    elementwise_pow,
    elementwise_sub,
    matmul,
    mul,
    scale,
)
from minigraph.layers.nn import fc
from minigraph.layers.norm import *  # noqa: F403
from minigraph.layers.normalize import *  # noqa: F403
from minigraph.layers.reduction import *  # noqa: F403
from minigraph.layers.shape import *  # noqa: F403
from minigraph.layers.tensor import assign, cast, create_global_var, create_parameter, data, fill_constant, sums
