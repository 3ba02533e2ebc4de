"""The one interface everything above the op registry builds through.

Layers, nn.Layer objects, optimizers, regularizers, gradient clipping and ModelAverage ask
a Builder to "emit this op with these inputs and attrs" and get variables back. Two kinds
exist:

* `StaticBuilder` (here) appends ops to a Program's block and parameter initializers to a
  startup program: define, then run with an Executor.
* the eager builder (`minigraph.dygraph`) runs each op's kernel at once and records it on a
  tape, so `loss.backward()` can run the same backward transformation as static mode.

`minigraph.ir.framework.current_builder()` is the builder layers use: the one made active by
`use_builder` (eager mode, jit tracing), else a static builder over the default programs.
`builder_for(var)` is the builder that owns an existing variable (arithmetic, optimizers and
regularizers extend the variable's own program, not whichever is default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from minigraph.errors import GraphBuildError
from minigraph.types import shape_text

# Slot name -> variables (or names); attribute name -> value.
Slots = dict[str, Any] | None

if TYPE_CHECKING:
    from minigraph.ir.block import Block
    from minigraph.ir.naming import NameGenerator
    from minigraph.ir.operator import Operator
    from minigraph.ir.program import Program
    from minigraph.ir.variable import Parameter, Variable


class Builder:
    """What a builder offers; see the module docstring. Subclasses implement every method."""

    program: Program
    # Ops run as they are emitted (eager): results are available at once, and the few
    # things that really differ (ModelAverage's accumulation, reading a parameter's value)
    # ask this instead of inspecting objects.
    immediate: bool = False
    # Whether Layer.train()/eval() choose an op's test mode (eager mode and jit tracing);
    # in static mode the constructor's is_test decides, as in Paddle.
    follows_layer_mode: bool = False
    # Eager mode records ops for backward while this is True (see dygraph.no_grad).
    grad_enabled: bool = True

    @property
    def names(self) -> NameGenerator:
        return self.program.names

    @property
    def block(self) -> Block:
        return self.program.current_block()

    def create_var(self, *args: Any, **kwargs: Any) -> Variable:
        """A variable in the builder's block (Block.create_var's arguments)."""
        return self.block.create_var(*args, **kwargs)

    def append_op(
        self, type: str, inputs: Slots = None, outputs: Slots = None, attrs: Slots = None, role: int = 0
    ) -> Any:
        """Emit one op writing into the given output variables (the static builder returns
        the appended Operator; the eager one has run it and returns None)."""
        raise NotImplementedError

    def create_parameter(self, name: str, shape: tuple[int, ...], dtype: str, init: Any, **flags: Any) -> Parameter:
        """Parameter `name` with `init` (an Initializer) as its initial value; reusing a name
        shares the parameter (shapes must agree)."""
        raise NotImplementedError

    def create_persistable(self, name: str, shape: Sequence[int], dtype: str, value: float) -> Variable:
        """A persistable, non-differentiable variable filled with `value` (learning rates,
        optimizer and averaging state)."""
        raise NotImplementedError

    def accumulated_gradients(self, parameters: Sequence[Parameter]) -> list[tuple[Parameter, Variable]]:
        """Eager mode: (parameter, gradient) pairs from what `loss.backward()` accumulated.
        A static program has none; its gradients are ops (`append_backward`)."""
        raise GraphBuildError("a static program has no accumulated gradients; use append_backward(loss)")

    def add_gradient_hook(self, hook: Any) -> None:
        """Eager mode: call `hook(pairs)` on every backward's (leaf, gradient array) pairs
        before they accumulate into the leaves, and accumulate what it returns (data
        parallelism averages them over processes here). A static program has no eager
        backward; it rewrites its gradient ops instead (minigraph.passes)."""
        raise GraphBuildError("gradient hooks need eager mode; a static program's gradients are ops")

    def value_of(self, var: Variable, scope: Any) -> Any:
        """The current value of a persistable variable, as a numpy array."""
        raise NotImplementedError

    def set_value(self, var: Variable, value: Any, scope: Any) -> None:
        raise NotImplementedError


class StaticBuilder(Builder):
    """Appends to `main`'s current block; parameter initializers go to `startup`."""

    def __init__(self, main: Program, startup: Program | None = None, follows_layer_mode: bool = False) -> None:
        self.program = main
        self._startup = startup
        self.follows_layer_mode = follows_layer_mode

    @property
    def startup(self) -> Program:
        if self._startup is None:
            raise GraphBuildError(
                f"this builder of program {self.program!r} has no startup program to initialise variables in"
            )
        return self._startup

    def append_op(self, *args: Any, **kwargs: Any) -> Operator:
        """Block.append_op on the builder's current block."""
        return self.block.append_op(*args, **kwargs)

    def create_parameter(self, name: str, shape: tuple[int, ...], dtype: str, init: Any, **flags: Any) -> Parameter:
        """Create the parameter in main and, unless some op already initialises it there,
        its initializer op in startup."""
        p = self.program.global_block().create_parameter(name, shape, dtype, **flags)
        sblock = self.startup.global_block()
        existing = sblock.vars.get(name)
        if existing is not None and tuple(existing.shape) != tuple(shape):
            raise GraphBuildError(
                f"variable {name!r} was created before with shape {shape_text(existing.shape)}; "
                f"the new shape {shape_text(tuple(shape))} does not match"
            )
        sblock.create_parameter(name, shape, dtype, **flags)
        if not any(name in op.output_arg_names for op in sblock.ops):
            init(sblock.vars[name], sblock)
        return p

    def create_persistable(self, name: str, shape: Sequence[int], dtype: str, value: float) -> Variable:
        v = self.program.global_block().create_var(name, tuple(shape), dtype, persistable=True, stop_gradient=True)
        sblock = self.startup.global_block()
        sv = sblock.create_var(name, tuple(shape), dtype, persistable=True, stop_gradient=True)
        attrs = {"shape": list(shape), "dtype": dtype, "value": float(value)}
        sblock.append_op("fill_constant", {}, {"Out": sv}, attrs)
        return v

    def value_of(self, var: Variable, scope: Any) -> Any:
        held = scope.find_var(var.name)
        if held is None or not held.is_initialized():
            raise GraphBuildError(f"parameter {var.name!r} has no value yet; run the startup program first")
        return held.get_tensor()

    def set_value(self, var: Variable, value: Any, scope: Any) -> None:
        scope.var(var.name).set(value)


def builder_for(var: Any, startup: Program | None = None) -> Builder:
    """The builder owning `var`: its eager tape's builder, or a static builder over its
    program (with `startup` for anything that needs initialising)."""
    program = var.block.program
    return program.eager_builder or StaticBuilder(program, startup)
