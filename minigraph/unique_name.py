"""`minigraph.unique_name.generate(key)` and `guard()`: see minigraph.ir.naming."""

from minigraph.ir.naming import NameGenerator, generate, guard

__all__ = ["NameGenerator", "generate", "guard"]
