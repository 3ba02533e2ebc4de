"""Object-style layers (`minigraph.nn.Linear`, `BatchNorm`, ...), usable in static and dygraph mode."""

from minigraph.nn.layer import *  # noqa: F403
from minigraph.nn.layer.base import Layer
from minigraph.nn.layer.common import Embedding, Linear, Sequential
