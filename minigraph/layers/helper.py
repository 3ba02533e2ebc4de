"""LayerHelper: what every layer builder uses to name things, create parameters and emit
ops, all through the current builder (static: the default programs; eager: run at once)."""

from __future__ import annotations

from typing import Any

from minigraph.errors import ArgumentTypeError, GraphBuildError
from minigraph.initializer import Constant, Initializer, Xavier
from minigraph.ir.builder import Builder
from minigraph.ir.framework import current_builder
from minigraph.ir.operator import Operator
from minigraph.ir.variable import Parameter, Variable
from minigraph.param_attr import ParamAttr
from minigraph.types import shape_text


class LayerHelper:
    def __init__(self, layer_type: str, name: str | None = None) -> None:
        self.layer_type = layer_type
        self.name = name or self.builder.names.generate(layer_type)

    # Looked up at each use, so a layer object built in one mode can build ops in another
    # (jit tracing runs an eager layer's forward in static mode).
    @property
    def builder(self) -> Builder:
        return current_builder()

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
        builder = self.builder
        name = attr.name or builder.names.generate(f"{self.name}.{'b' if is_bias else 'w'}")
        init = attr.initializer or default_initializer or (Constant(0.0) if is_bias else Xavier())
        return builder.create_parameter(
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
        builder = self.builder
        return builder.create_var(builder.names.generate(f"{self.name}.tmp"), dtype=dtype, stop_gradient=stop_gradient)

    def append_op(
        self, type: str, inputs: dict[str, Any], outputs: dict[str, Any], attrs: dict[str, Any] | None = None
    ) -> Operator | None:
        return self.builder.append_op(type, inputs, outputs, attrs or {})

    def emit(
        self,
        type: str,
        inputs: dict[str, Any],
        attrs: dict[str, Any] | None = None,
        dtype: str | None = None,
        out: str = "Out",
    ) -> Variable:
        """Emit `type` writing a fresh variable into slot `out` and return that variable
        (its dtype is the first input's unless given)."""
        first = next(iter(inputs.values()))
        result = self.create_tmp(dtype or (first[0] if isinstance(first, list) else first).dtype)
        self.append_op(type, inputs, {out: result}, attrs)
        return result

    def append_activation(self, x: Variable, act: str | None) -> Variable:
        """`act` is appended as its own op after the main one, as in Paddle."""
        if act is None:
            return x
        if not isinstance(act, str):
            raise ArgumentTypeError(f"{self.name}: act must be an activation op name such as 'relu', got {act!r}")
        return self.emit(act, {"X": x})
