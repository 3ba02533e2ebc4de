"""CompiledProgram: a program paired with the BuildStrategy the executor compiles it with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minigraph.errors import ArgumentTypeError
from minigraph.ir.program import Program
from minigraph.passes.strategy import BuildStrategy, apply_build_strategy


class CompiledProgram:
    """`program` to be run with `build_strategy` (default: every pass on); runnable by
    `Executor.run` like a Program. `optimized(feeds, fetches)` is the program the executor
    actually runs, to print or draw:

        compiled = mg.CompiledProgram(test_program, mg.BuildStrategy(prune_dead_outputs=False))
        exe.run(compiled, feed={"x": x}, fetch_list=[logits])
        print(compiled.optimized(["x"], [logits.name]))   # shows fused_batch_norm_act ...
    """

    def __init__(self, program: Program, build_strategy: BuildStrategy | None = None) -> None:
        if not isinstance(program, Program):
            raise ArgumentTypeError(f"CompiledProgram expects a Program, got {type(program).__name__}")
        if build_strategy is not None and not isinstance(build_strategy, BuildStrategy):
            raise ArgumentTypeError(
                f"build_strategy must be a BuildStrategy or None, got {type(build_strategy).__name__}"
            )
        self.program = program
        self.build_strategy = BuildStrategy() if build_strategy is None else build_strategy

    def optimized(self, feed_names: Sequence[str] = (), fetch_names: Sequence[Any] = ()) -> Program:
        """The rewritten program for these feeds and fetch targets (names or Variables)."""
        fetches = [f if isinstance(f, str) else f.name for f in fetch_names]
        return apply_build_strategy(self.program, self.build_strategy, list(feed_names), fetches)

    def __repr__(self) -> str:
        return f"CompiledProgram(program #{self.program._uid}, {self.build_strategy})"
