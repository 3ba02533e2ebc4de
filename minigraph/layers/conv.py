"""Builders for the conv ops (filled in by the op family's author)."""

__all__: list[str] = []
