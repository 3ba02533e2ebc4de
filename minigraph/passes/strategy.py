"""BuildStrategy: which passes the executor runs over a program when it compiles it.

`apply_build_strategy(program, strategy, feed_names, fetch_names)` is the whole pipeline:
a copy of the program, its random seeds pinned, then each switched-on pass in a fixed
order (folding before fusion, so a folded batch_norm is not fused; pruning last, so it also
sweeps what the others left unread). Each pass preserves the values of the feeds, the
fetch targets and the persistables the program writes (see each pass's docstring), so a
strategy changes results by float rounding at most; the user's program is never modified.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

from minigraph.ir.program import Program
from minigraph.passes.dead import pin_random_seeds, prune_dead_outputs
from minigraph.passes.fold import fold_batch_norm_ops
from minigraph.passes.fuse import fuse_bn_act, fuse_conv_epilogue, fuse_elewise_add_act
from minigraph.passes.fuse_bias import fuse_bias_bn_act

__all__ = ["BuildStrategy", "apply_build_strategy"]


@dataclass
class BuildStrategy:
    """Switches for the executor's compile-time passes; all on by default.

        strategy = mg.BuildStrategy(fuse_bn_act_ops=False)
        exe.run(main, feed=feed, fetch_list=[loss], build_strategy=strategy)

    - `fold_batch_norm`: running-statistics batch_norm folded into the conv2d/fc before it,
      the folded weights recomputed from the current parameters on every run
      (minigraph.passes.fold.fold_batch_norm_ops);
    - `fuse_bn_act_ops`: batch_norm + relu (and their gradients) as one op
      (minigraph.passes.fuse);
    - `fuse_bias_bn_act_ops`: with fuse_bn_act_ops, an fc layer's bias add taken into the
      training batch_norm + relu after it, forward and gradient (minigraph.passes.fuse_bias);
    - `fuse_elewise_add_act_ops`: elementwise_add + relu (and their gradients) as one op
      (minigraph.passes.fuse);
    - `fuse_conv_epilogue`: in programs without gradients, conv2d + per-channel bias add +
      relu (+ a 2x2 max pool) as one op computing the epilogue in place (minigraph.passes.fuse);
    - `prune_dead_outputs`: ops and optional outputs nothing reads are not computed
      (minigraph.passes.dead).
    """

    fold_batch_norm: bool = True
    fuse_bn_act_ops: bool = True
    fuse_bias_bn_act_ops: bool = True
    fuse_elewise_add_act_ops: bool = True
    fuse_conv_epilogue: bool = True
    prune_dead_outputs: bool = True

    def key(self) -> tuple[bool, ...]:
        """The switches as a tuple, for plan caches (the object itself may change). Read on
        every run, so plain attribute reads (dataclasses.astuple deep-copies: ~20 us)."""
        return tuple(map(bool, _switches(self)))

    @classmethod
    def none(cls) -> BuildStrategy:
        """Every pass off: the program runs as written."""
        return cls(**{name: False for name in cls.__dataclass_fields__})


_SWITCHES = tuple(BuildStrategy.__dataclass_fields__)
_switches = operator.attrgetter(*_SWITCHES)  # all of them in one C call


def apply_build_strategy(
    program: Program, strategy: BuildStrategy, feed_names: Sequence[str], fetch_names: Sequence[str]
) -> Program:
    """The program the executor runs for these feeds and fetches: `program` itself when no
    pass is on (or it has sub-blocks, which the passes do not handle yet), else a rewritten
    copy."""
    if not any(strategy.key()) or program.num_blocks > 1:
        return program
    keep = [*feed_names, *fetch_names]
    new = pin_random_seeds(program.clone())
    if strategy.fold_batch_norm:
        fold_batch_norm_ops(new, keep)
    if strategy.fuse_bn_act_ops:
        fuse_bn_act(new, keep)
        if strategy.fuse_bias_bn_act_ops:
            fuse_bias_bn_act(new, keep)
    if strategy.fuse_conv_epilogue:  # before the add + relu fusion, which would take its add
        fuse_conv_epilogue(new, keep)
    if strategy.fuse_elewise_add_act_ops:
        fuse_elewise_add_act(new, keep)
    if strategy.prune_dead_outputs:
        prune_dead_outputs(new, keep)
    return new
