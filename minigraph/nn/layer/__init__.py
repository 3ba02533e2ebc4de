"""Layer classes."""

from minigraph.nn.layer.base import Layer
from minigraph.nn.layer.common import Embedding, Linear, Sequential
from minigraph.nn.layer.conv import *  # noqa: F403
from minigraph.nn.layer.dropout import *  # noqa: F403
from minigraph.nn.layer.norm import *  # noqa: F403
