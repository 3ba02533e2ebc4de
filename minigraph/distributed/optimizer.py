"""distributed_optimizer: any optimizer, data-parallel.

`minimize(loss)` on a static program:
1. with `strategy.sync_batch_norm`, batch_norm ops become sync_batch_norm;
2. the wrapped optimizer's backward pass;
3. every gradient averaged over the processes, in fused non-blocking buckets
   (minigraph.passes.collective.insert_grad_allreduce);
4. the wrapped optimizer's clipping, regularization and update ops, on averaged gradients;
5. the startup program ends by broadcasting every parameter from rank 0.

In eager mode gradients are averaged by `DataParallel` as `loss.backward()` produces them,
so `minimize` is the wrapped optimizer's.
"""

from __future__ import annotations

import inspect
from typing import Any

from minigraph.distributed.env import init_parallel_env
from minigraph.distributed.strategy import DistributedStrategy
from minigraph.errors import ArgumentTypeError
from minigraph.ir.builder import builder_for
from minigraph.ir.framework import default_startup_program
from minigraph.ir.operator import Operator
from minigraph.ir.variable import Parameter, Variable
from minigraph.optimizer.base import Optimizer
from minigraph.passes.collective import broadcast_parameters, convert_sync_batch_norm, insert_grad_allreduce


class DistributedOptimizer:
    """Wraps an optimizer (see the module docstring); other attributes are the wrapped one's."""

    def __init__(self, optimizer: Optimizer, strategy: DistributedStrategy | None = None) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(
                f"distributed_optimizer wraps a minigraph optimizer, got {type(optimizer).__name__}"
            )
        if strategy is not None and not isinstance(strategy, DistributedStrategy):
            raise ArgumentTypeError(f"strategy must be a DistributedStrategy, got {type(strategy).__name__}")
        self.inner_opt = optimizer
        self.user_defined_strategy = strategy or DistributedStrategy()
        self.user_defined_strategy.bucket_bytes()  # refuse a bad bucket size now, not at minimize

    def minimize(
        self, loss: Variable, *args: Any, **kwargs: Any
    ) -> tuple[list[Operator], list[tuple[Parameter, Variable]]]:
        """Backward, averaged gradients, update (see the module docstring). Takes the
        arguments of Optimizer.minimize and returns what it does, `(optimize_ops, params_grads)`."""
        bound = inspect.signature(Optimizer.minimize).bind(self.inner_opt, loss, *args, **kwargs)
        bound.apply_defaults()
        startup_program, parameter_list, no_grad_set = (
            bound.arguments[k] for k in ("startup_program", "parameter_list", "no_grad_set")
        )
        init_parallel_env()
        startup = startup_program or default_startup_program()
        if builder_for(loss, startup).immediate:
            return self.inner_opt.minimize(loss, startup_program, parameter_list, no_grad_set)
        strategy = self.user_defined_strategy
        program = loss.block.program
        if strategy.sync_batch_norm:
            convert_sync_batch_norm(program)
        params_grads = self.inner_opt.backward(loss, startup_program, parameter_list, no_grad_set)
        insert_grad_allreduce(program, params_grads, strategy.bucket_bytes(), strategy.overlap_grad_comm)
        optimize_ops = self.inner_opt.apply_gradients(params_grads, startup_program)
        broadcast_parameters(startup, [p.name for p in program.all_parameters()])
        return optimize_ops, params_grads

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner_opt, name)


def distributed_optimizer(optimizer: Optimizer, strategy: DistributedStrategy | None = None) -> DistributedOptimizer:
    """`optimizer`, data-parallel: its `minimize(loss)` averages gradients over processes.

    opt = dist.distributed_optimizer(mg.optimizer.Momentum(0.1, momentum=0.9), strategy)
    opt.minimize(loss)
    """
    init_parallel_env()
    return DistributedOptimizer(optimizer, strategy)
