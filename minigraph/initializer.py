"""Initializers: each appends one op to the startup program that fills a parameter."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigraph.errors import ArgumentTypeError
from minigraph.ir.variable import Variable
from minigraph.types import constant_value


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """fan_in/fan_out: [in, out] for fc weights, [out, in, kh, kw] for conv filters."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


class Initializer:
    op_type = ""

    def attrs(self, var: Variable) -> dict[str, Any]:
        raise NotImplementedError

    def __call__(self, var: Variable, block: Any) -> Any:
        attrs = {"shape": list(var.shape), "dtype": var.dtype, **self.attrs(var)}
        return block.append_op(self.op_type, {}, {"Out": var.name}, attrs)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Constant(Initializer):
    """Fill with one value."""

    op_type = "fill_constant"

    def __init__(self, value: float = 0.0) -> None:
        if not isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
            raise ArgumentTypeError(f"Constant: value must be a number, got {value!r}")
        self.value = float(value)

    def attrs(self, var: Variable) -> dict[str, Any]:
        return {"value": constant_value(self.value, var.dtype, f"Constant initializer of {var.name!r} ({var.dtype})")}


class Uniform(Initializer):
    """Uniform on [low, high)."""

    op_type = "uniform_random"

    def __init__(self, low: float = -1.0, high: float = 1.0, seed: int = 0) -> None:
        self.low, self.high, self.seed = float(low), float(high), int(seed)

    def attrs(self, var: Variable) -> dict[str, Any]:
        return {"min": self.low, "max": self.high, "seed": self.seed}


class Normal(Initializer):
    """Gaussian with mean `loc` and standard deviation `scale`."""

    op_type = "gaussian_random"

    def __init__(self, loc: float = 0.0, scale: float = 1.0, seed: int = 0) -> None:
        self.loc, self.scale, self.seed = float(loc), float(scale), int(seed)

    def attrs(self, var: Variable) -> dict[str, Any]:
        return {"mean": self.loc, "std": self.scale, "seed": self.seed}


class TruncatedNormal(Normal):
    op_type = "truncated_gaussian_random"


class Xavier(Initializer):
    """Glorot: uniform with limit sqrt(6/(fan_in+fan_out)), or normal with std sqrt(2/(fan_in+fan_out))."""

    def __init__(
        self, uniform: bool = True, fan_in: int | None = None, fan_out: int | None = None, seed: int = 0
    ) -> None:
        self.uniform, self.fan_in, self.fan_out, self.seed = uniform, fan_in, fan_out, int(seed)

    def __call__(self, var: Variable, block: Any) -> Any:
        fi, fo = _fans(var.shape)
        fi = self.fan_in or fi
        fo = self.fan_out or fo
        if self.uniform:
            limit = math.sqrt(6.0 / (fi + fo))
            return Uniform(-limit, limit, self.seed)(var, block)
        return Normal(0.0, math.sqrt(2.0 / (fi + fo)), self.seed)(var, block)


class MSRA(Initializer):
    """He/Kaiming: uniform with limit sqrt(6/fan_in), or normal with std sqrt(2/fan_in)."""

    def __init__(self, uniform: bool = True, fan_in: int | None = None, seed: int = 0) -> None:
        self.uniform, self.fan_in, self.seed = uniform, fan_in, int(seed)

    def __call__(self, var: Variable, block: Any) -> Any:
        fi = self.fan_in or _fans(var.shape)[0]
        if self.uniform:
            limit = math.sqrt(6.0 / fi)
            return Uniform(-limit, limit, self.seed)(var, block)
        return Normal(0.0, math.sqrt(2.0 / fi), self.seed)(var, block)


# Paddle's long names
ConstantInitializer = Constant
UniformInitializer = Uniform
NormalInitializer = Normal
XavierInitializer = Xavier
MSRAInitializer = MSRA
KaimingNormal = MSRA
