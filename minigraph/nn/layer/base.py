"""Layer: the base of the object-style API. A layer creates its parameters when it is
constructed (in static mode: in the current main/startup programs) and builds its ops when
called. Layers build ops only through LayerHelper / minigraph.layers, so the same class
also runs eagerly."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from minigraph.errors import InvalidArgumentError
from minigraph.executor.scope import global_scope
from minigraph.initializer import Initializer
from minigraph.ir.builder import builder_for
from minigraph.ir.framework import current_builder
from minigraph.ir.variable import Parameter
from minigraph.layers.helper import LayerHelper
from minigraph.param_attr import ParamAttr


def mode_follows_training() -> bool:
    """Whether `Layer.train()`/`eval()` choose an op's test mode: in eager mode and while
    jit.trace records a layer; in static mode (as in Paddle) the constructor's `is_test`
    decides and `clone(for_test=True)` makes test programs."""
    return current_builder().follows_layer_mode


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Layer:
    """Base class: subclasses create parameters in __init__ and define forward()."""

    def __init__(self, name_scope: str | None = None, dtype: str = "float32") -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_sub_layers", OrderedDict())
        self.training = True
        self._dtype = dtype
        self._helper = LayerHelper(name_scope or _snake(type(self).__name__))
        self._full_name = self._helper.name

    def full_name(self) -> str:
        return self._full_name

    # --- registration -------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        layers = self.__dict__.get("_sub_layers")
        if params is not None and isinstance(value, Parameter):
            params[name] = value
        elif layers is not None and isinstance(value, Layer):
            layers[name] = value
        object.__setattr__(self, name, value)

    def create_parameter(
        self,
        shape: Any,
        attr: Any = None,
        dtype: str | None = None,
        is_bias: bool = False,
        default_initializer: Initializer | None = None,
    ) -> Parameter | None:
        """A parameter named `<layer>.w_N` / `<layer>.b_N` unless attr names it; None if attr is False."""
        pattr = ParamAttr.to_attr(attr)
        if pattr is False:
            return None
        return self._helper.create_parameter(pattr, shape, dtype or self._dtype, is_bias, default_initializer)

    def add_sublayer(self, name: str, sublayer: Layer) -> Layer:
        setattr(self, name, sublayer)
        return sublayer

    def add_parameter(self, name: str, parameter: Parameter) -> Parameter:
        setattr(self, name, parameter)
        return parameter

    # --- traversal ----------------------------------------------------------------------
    def sublayers(self, include_self: bool = False) -> list[Layer]:
        out = [self] if include_self else []
        for layer in self._sub_layers.values():
            out.extend(layer.sublayers(include_self=True))
        return out

    def named_parameters(self, prefix: str = "", include_sublayers: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(variable name, parameter) pairs: the keys are the parameters' own names, the same
        in static and dygraph mode."""
        seen: set[int] = set()
        layers = self.sublayers(include_self=True) if include_sublayers else [self]
        for layer in layers:
            for p in layer._parameters.values():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield p.name, p

    def parameters(self, include_sublayers: bool = True) -> list[Parameter]:
        return [p for _, p in self.named_parameters(include_sublayers=include_sublayers)]

    # --- modes --------------------------------------------------------------------------
    def train(self) -> Layer:
        for layer in self.sublayers(include_self=True):
            layer.training = True
        return self

    def eval(self) -> Layer:
        for layer in self.sublayers(include_self=True):
            layer.training = False
        return self

    # --- state --------------------------------------------------------------------------
    def state_dict(self, scope: Any = None) -> dict[str, np.ndarray]:
        """name -> numpy copy of every parameter (moving statistics included)."""
        scope = scope or global_scope()
        return {name: np.array(builder_for(p).value_of(p, scope)) for name, p in self.named_parameters()}

    def set_state_dict(self, state: dict[str, Any], scope: Any = None) -> None:
        """Load values by parameter name; shapes must match and every parameter must be present."""
        params = dict(self.named_parameters())
        missing = [n for n in params if n not in state]
        if missing:
            raise KeyError(f"set_state_dict: no value for parameter(s) {missing}")
        for name, p in params.items():
            value = np.asarray(state[name])
            if tuple(value.shape) != tuple(p.shape):
                raise InvalidArgumentError(f"set_state_dict: {name!r} has shape {tuple(p.shape)}, got {value.shape}")
            builder_for(p).set_value(p, value.astype(p.dtype), scope or global_scope())

    load_dict = set_state_dict

    def clear_gradients(self) -> None:
        for p in self.parameters():
            p.clear_gradient()

    # --- calling ------------------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.forward(*inputs, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._full_name})"
