"""ParamAttr: how a layer should create one of its parameters."""

from __future__ import annotations

from typing import Any

from minigraph.errors import ArgumentTypeError
from minigraph.initializer import Initializer


class ParamAttr:
    """Name, initializer, learning-rate scale, regularizer and flags of a parameter.
    `False` as a layer's bias_attr means "no bias"; `True` means the default attribute
    (fluid scripts pass it)."""

    def __init__(
        self,
        name: str | None = None,
        initializer: Any = None,
        learning_rate: float = 1.0,
        regularizer: Any = None,
        trainable: bool = True,
        do_model_average: bool = True,
        need_clip: bool = True,
    ) -> None:
        self.name = name
        self.initializer = initializer
        self.learning_rate = float(learning_rate)
        self.regularizer = regularizer
        self.trainable = bool(trainable)
        self.do_model_average = bool(do_model_average)
        self.need_clip = bool(need_clip)

    @staticmethod
    def to_attr(arg: Any) -> ParamAttr | bool:
        """Normalise a user's param_attr/bias_attr argument (None, True, str, ParamAttr, False,
        initializer)."""
        if arg is None or arg is True:
            return ParamAttr()
        if arg is False:
            return False
        if isinstance(arg, ParamAttr):
            return arg
        if isinstance(arg, str):
            return ParamAttr(name=arg)
        if isinstance(arg, Initializer):
            return ParamAttr(initializer=arg)
        raise ArgumentTypeError(f"expected a ParamAttr, a name, an initializer, None or False; got {arg!r}")

    def __repr__(self) -> str:
        return f"ParamAttr(name={self.name!r}, learning_rate={self.learning_rate}, trainable={self.trainable})"
