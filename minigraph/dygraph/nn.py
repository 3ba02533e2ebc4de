"""fluid's `dygraph.nn`: the layer classes eager scripts build models from. They are
minigraph.nn's, which work in static and eager mode alike."""

from minigraph.nn import BatchNorm, Conv2D, Dropout, Embedding, Layer, Linear, Pool2D, Sequential

__all__ = ["BatchNorm", "Conv2D", "Dropout", "Embedding", "Layer", "Linear", "Pool2D", "Sequential"]
