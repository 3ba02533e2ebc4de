"""DataParallel: eager (dygraph) data parallelism.

Wrapping a layer broadcasts its parameters from rank 0 (so every process starts from the
same weights) and hooks the eager backward: each `loss.backward()` averages the gradients
of the layer's parameters over the processes, in fused buckets, before they accumulate.
So the plain optimizer's `minimize(loss)` sees averaged gradients:

    with mg.dygraph.guard():
        model = dist.DataParallel(Net())
        opt = mg.optimizer.Momentum(0.1, momentum=0.9, parameter_list=model.parameters())
        loss = mg.layers.mean(...model(x)...)
        loss.backward()          # gradients averaged over the processes here
        opt.minimize(loss)

Averaging each backward's contribution (not the accumulated total) keeps gradient
accumulation over several backward passes exact. In static mode the layer is returned
unchanged in effect: there `distributed_optimizer` rewrites the program instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.distributed.env import init_parallel_env
from minigraph.errors import ArgumentTypeError
from minigraph.ir.framework import current_builder
from minigraph.ir.operator import OpRole
from minigraph.ir.variable import Variable
from minigraph.nn.layer.base import Layer
from minigraph.ops.bucket import allreduce_arrays


class DataParallel(Layer):
    """Runs `layers` with gradients averaged over the processes (see the module docstring).
    `comm_buffer_size` is the bucket size in MB (Paddle's argument)."""

    def __init__(
        self,
        layers: Layer,
        strategy: Any = None,
        comm_buffer_size: float = 25,
        last_comm_buffer_size: float = 1,
        find_unused_parameters: bool = False,
    ) -> None:
        if not isinstance(layers, Layer):
            raise ArgumentTypeError(f"DataParallel wraps an nn.Layer, got {type(layers).__name__}")
        super().__init__("data_parallel")
        self._layers = layers
        self._bucket_bytes = max(1, int(comm_buffer_size * (1 << 20)))
        init_parallel_env()
        builder = current_builder()
        if builder.immediate:
            for p in layers.parameters():
                # role OPTIMIZE: an update of the parameter's value, never recorded for backward
                builder.append_op("c_broadcast", {"X": p}, {"Out": p}, {"root": 0}, role=OpRole.OPTIMIZE)
            self._owned = {id(p) for p in layers.parameters()}
            builder.add_gradient_hook(self._average)

    def _average(self, pairs: list[tuple[Variable, np.ndarray]]) -> list[tuple[Variable, np.ndarray]]:
        mine = [k for k, (var, _) in enumerate(pairs) if id(var) in self._owned]
        if not mine:
            return pairs
        averaged = allreduce_arrays([pairs[k][1] for k in mine], "avg", self._bucket_bytes)
        out = list(pairs)
        for k, g in zip(mine, averaged):
            out[k] = (pairs[k][0], g)
        return out

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self._layers(*inputs, **kwargs)

    def scale_loss(self, loss: Variable) -> Variable:
        """Paddle 1.x: nothing to do, gradients are averaged in backward."""
        return loss

    def apply_collective_grads(self) -> None:
        """Paddle 1.x: nothing to do, gradients are averaged in backward."""
