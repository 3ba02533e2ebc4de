"""LayerHelper: what every layer builder uses to name things, create parameters (with
their initializers in the startup program) and append ops to the main program."""

from __future__ import annotations

from typing import Any

from minigraph.dygraph.tracer import current_tracer
from minigraph.errors import GraphBuildError
from minigraph.initializer import Constant, Initializer, Xavier
from minigraph.ir.framework import default_main_program, default_startup_program
from minigraph.ir.operator import Operator
from minigraph.ir.variable import Parameter, Variable
from minigraph.param_attr import ParamAttr
from minigraph.types import shape_text


class LayerHelper:
    def __init__(self, layer_type: str, name: str | None = None) -> None:
        self.layer_type = layer_type
        self.name = name or self.main.names.generate(layer_type)

    # Looked up at each use, so a layer object built in one mode can build ops in another
    # (jit tracing runs an eager layer's forward in static mode).
    @property
    def main(self) -> Any:
        """The eager tracer inside dygraph.guard(), else the default main program."""
        return current_tracer() or default_main_program()

    @property
    def startup(self) -> Any:
        return default_startup_program()

    @property
    def block(self) -> Any:
        return self.main.current_block()

    def create_parameter(
        self,
        attr: ParamAttr,
        shape: Any,
        dtype: str,
        is_bias: bool = False,
        default_initializer: Initializer | None = None,
    ) -> Parameter:
        shape = tuple(int(d) for d in shape)
        if any(d <= 0 for d in shape):
            raise GraphBuildError(f"{self.name}: parameter shape {shape_text(shape)} must be all positive")
        name = attr.name or self.main.names.generate(f"{self.name}.{'b' if is_bias else 'w'}")
        init = attr.initializer or default_initializer or (Constant(0.0) if is_bias else Xavier())
        return create_parameter_in(
            self.main,
            self.startup,
            name,
            shape,
            dtype,
            init,
            trainable=attr.trainable,
            optimize_attr={"learning_rate": attr.learning_rate},
            regularizer=attr.regularizer,
            do_model_average=attr.do_model_average,
            need_clip=attr.need_clip,
        )

    def create_tmp(self, dtype: str = "float32", stop_gradient: bool = False) -> Variable:
        return self.block.create_var(
            self.main.names.generate(f"{self.name}.tmp"), dtype=dtype, stop_gradient=stop_gradient
        )

    def append_op(
        self, type: str, inputs: dict[str, Any], outputs: dict[str, Any], attrs: dict[str, Any] | None = None
    ) -> Operator:
        return self.block.append_op(type, inputs, outputs, attrs or {})

    def append_activation(self, x: Variable, act: str | None) -> Variable:
        """`act` is appended as its own op after the main one, as in Paddle."""
        if act is None:
            return x
        if not isinstance(act, str):
            raise TypeError(f"{self.name}: act must be an activation op name such as 'relu', got {act!r}")
        out = self.create_tmp(x.dtype)
        self.append_op(act, {"X": x}, {"Out": out})
        return out


def create_parameter_in(
    main: Any, startup: Any, name: str, shape: tuple[int, ...], dtype: str, init: Initializer, **flags: Any
) -> Parameter:
    """Create parameter `name` in `main` and, unless some op already initialises it there,
    its initializer in `startup`. Reusing a name shares the variable (shapes must agree).
    In eager mode `main` is the tracer, which creates and initialises the parameter now."""
    if not hasattr(main, "all_parameters"):  # the eager tracer
        return main.create_parameter(name, shape, dtype, init, **flags)
    p = main.global_block().create_parameter(name, shape, dtype, **flags)
    sblock = startup.global_block()
    existing = sblock.vars.get(name)
    if existing is not None and tuple(existing.shape) != tuple(shape):
        raise GraphBuildError(
            f"variable {name!r} was created before with shape {shape_text(existing.shape)}; "
            f"the new shape {shape_text(shape)} does not match"
        )
    sblock.create_parameter(name, shape, dtype, **flags)
    if not any(name in op.output_arg_names for op in sblock.ops):
        init(sblock.vars[name], sblock)
    return p
