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

from minigraph.errors import ArgumentTypeError, InvalidArgumentError
from minigraph.executor.scope import Scope, global_scope, scope_guard
from minigraph.io import save_inference_model
from minigraph.ir.builder import StaticBuilder, builder_for
from minigraph.ir.framework import use_builder
from minigraph.ir.program import Program
from minigraph.ir.variable import Variable


@dataclass
class TracedLayer:
    program: Program
    feed_names: list[str]
    fetch_names: list[str]
    scope: Scope = field(default_factory=Scope)

    def save_inference_model(self, dirname: str, executor: Any) -> None:
        block = self.program.global_block()
        with scope_guard(self.scope):
            save_inference_model(
                dirname, self.feed_names, [block.var(n) for n in self.fetch_names], executor, main_program=self.program
            )


def trace(
    layer: Any, example_inputs: Sequence[Any], feed_names: Sequence[str] | None = None, scope: Scope | None = None
) -> TracedLayer:
    """Record `layer`'s eval-mode forward for inputs shaped like `example_inputs` (the first
    dimension becomes -1, the batch). The layer may have been built eagerly or in static
    mode; a static layer's parameter values are read from `scope` (default: the global
    scope), so run its startup program first."""
    inputs = [np.asarray(x) for x in example_inputs]
    names = (
        list(feed_names)
        if feed_names is not None
        else [f"x{i}" if len(inputs) > 1 else "x" for i in range(len(inputs))]
    )
    if len(names) != len(inputs):
        raise InvalidArgumentError(f"trace: {len(inputs)} example inputs but {len(names)} feed names")
    main, startup = Program(), Program()
    traced_scope = Scope()
    block = main.global_block()
    source = scope if scope is not None else global_scope()
    for name, p in layer.named_parameters():
        value = np.array(builder_for(p).value_of(p, source))
        block.create_parameter(name, value.shape, value.dtype.name, **p.flags())
        traced_scope.var(name).set(value)
    was_training = [sub.training for sub in layer.sublayers(include_self=True)]
    try:
        layer.eval()
        # A static builder whose layers follow train()/eval(), as they do eagerly.
        with use_builder(StaticBuilder(main, startup, follows_layer_mode=True)):
            feeds = [
                block.create_var(n, (-1,) + x.shape[1:], x.dtype.name, stop_gradient=True, is_data=True)
                for n, x in zip(names, inputs)
            ]
            outputs = layer(*feeds)
    finally:
        for sub, flag in zip(layer.sublayers(include_self=True), was_training):
            sub.training = flag
    outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    if not all(isinstance(o, Variable) and o.block.program is main for o in outs):
        raise ArgumentTypeError("trace: the layer's forward must return Variables built from its inputs")
    return TracedLayer(main, names, [o.name for o in outs], traced_scope)
