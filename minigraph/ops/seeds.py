"""Per-op random seeds: one formula shared by the static executor and eager mode."""

from __future__ import annotations

_MODULUS = 2**31 - 1


def op_seed(program_seed: int, op_index: int) -> int:
    """The seed an op with `seed=0` runs with when its program's `random_seed` is
    `program_seed` (nonzero): a distinct, reproducible stream per op, so two
    equal-shaped parameters initialised by the same program never get the same values.
    `op_index` counts the ops from 0 (a static op's position in its block; the eager tape's
    op count). Never 0, which would mean "fresh entropy"."""
    return (program_seed * 1_000_003 + op_index + 1) % _MODULUS or 1
