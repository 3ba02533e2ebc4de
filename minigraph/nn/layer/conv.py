"""Convolution and pooling layers (Conv2D, Pool2D)."""

__all__: list[str] = []
