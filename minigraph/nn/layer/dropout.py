"""Dropout layer."""

__all__: list[str] = []
