"""Normalization layers (BatchNorm)."""

__all__: list[str] = []
