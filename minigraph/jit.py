"""Tracing: record an eager layer's forward as a static Program.

    with dygraph.guard():
        net = MyNet()
        ...train eagerly...
        traced = jit.trace(net, [x_example])
    exe = Executor()
    out, = exe.run(traced.program, feed={traced.feed_names[0]: x}, fetch_list=traced.fetch_names,
                   scope=traced.scope)
    traced.save_inference_model("out/model", exe)

The layer runs its forward once in static mode (in eval mode), building ops through the
same LayerHelper calls; its parameters become Parameters of the program, with their current
values in `traced.scope`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigraph.dygraph.tracer import activate, current_tracer, deactivate
from minigraph.dygraph.variable import EagerVariable
from minigraph.executor.scope import Scope
from minigraph.ir.framework import program_guard
from minigraph.ir.program import Program
from minigraph.ir.variable import Parameter, Variable
from minigraph.nn.layer.base import TRACING


@dataclass
class TracedLayer:
    program: Program
    feed_names: list[str]
    fetch_names: list[str]
    scope: Scope = field(default_factory=Scope)

    def save_inference_model(self, dirname: str, executor: Any) -> None:
        from minigraph.executor.scope import scope_guard
        from minigraph.io import save_inference_model

        block = self.program.global_block()
        with scope_guard(self.scope):
            save_inference_model(
                dirname, self.feed_names, [block.var(n) for n in self.fetch_names], executor, main_program=self.program
            )


def trace(layer: Any, example_inputs: Sequence[Any], feed_names: Sequence[str] | None = None) -> TracedLayer:
    """Record `layer`'s eval-mode forward for inputs shaped like `example_inputs` (the first
    dimension becomes -1, the batch)."""
    inputs = [np.asarray(x.value if isinstance(x, EagerVariable) else x) for x in example_inputs]
    names = (
        list(feed_names)
        if feed_names is not None
        else [f"x{i}" if len(inputs) > 1 else "x" for i in range(len(inputs))]
    )
    if len(names) != len(inputs):
        raise ValueError(f"trace: {len(inputs)} example inputs but {len(names)} feed names")
    main, startup = Program(), Program()
    scope = Scope()
    block = main.global_block()
    for name, p in layer.named_parameters():
        value = np.asarray(p.value if isinstance(p, EagerVariable) else scope.find_var(name).get_tensor())
        block.vars[name] = Parameter(
            block,
            name,
            value.shape,
            value.dtype.name,
            trainable=getattr(p, "trainable", True),
            optimize_attr=getattr(p, "optimize_attr", None),
            do_model_average=getattr(p, "do_model_average", True),
        )
        scope.var(name).set(value)
    was_training = [sub.training for sub in layer.sublayers(include_self=True)]
    tracer = current_tracer()
    token = activate(None)  # type: ignore[arg-type]  # leave eager mode while recording
    tracing = TRACING.set(True)
    try:
        layer.eval()
        with program_guard(main, startup):
            feeds = [
                block.create_var(n, (-1,) + x.shape[1:], x.dtype.name, stop_gradient=True, is_data=True)
                for n, x in zip(names, inputs)
            ]
            outputs = layer(*feeds)
    finally:
        TRACING.reset(tracing)
        deactivate(token)
        for sub, flag in zip(layer.sublayers(include_self=True), was_training):
            sub.training = flag
    del tracer
    outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    if not all(isinstance(o, Variable) for o in outs):
        raise TypeError("trace: the layer's forward must return Variables built from its inputs")
    # Persistables the forward writes (batch_norm statistics in train mode) need values too.
    return TracedLayer(main, names, [o.name for o in outs], scope)
