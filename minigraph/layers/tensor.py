"""Builders for feeds, parameters, constants and simple tensor ops."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.core import LOD_REFUSED
from minigraph.errors import ArgumentTypeError, GraphBuildError
from minigraph.initializer import Constant, Initializer
from minigraph.ir.framework import default_main_program, default_startup_program
from minigraph.ir.variable import Parameter, Variable
from minigraph.layers.helper import LayerHelper
from minigraph.param_attr import ParamAttr
from minigraph.types import constant_value, normalize_dtype, normalize_shape


def _feed_var(name: str, shape: tuple[int, ...], dtype: Any, lod_level: int, stop_gradient: bool) -> Variable:
    if not isinstance(name, str) or not name:
        raise GraphBuildError(f"data: name must be a non-empty string, got {name!r}")
    # NOTE: refused rather than ignored: a LoD program fed padded batches would train on
    # the padding without a word of warning.
    if lod_level:
        raise GraphBuildError(f"data {name!r}: lod_level={lod_level}: {LOD_REFUSED}")
    block = default_main_program().global_block()
    if block.has_var(name):
        raise GraphBuildError(f"data: a variable named {name!r} already exists in this program")
    dtype = normalize_dtype(dtype, f"data({name!r}): dtype")
    return block.create_var(name, shape, dtype, stop_gradient=bool(stop_gradient), is_data=True)


def static_data(name: str, shape: Any, dtype: Any = "float32", lod_level: int = 0) -> Variable:
    """A variable fed at run time, shaped exactly as given; None or -1 marks a free
    dimension (usually the batch), as `paddle.static.data` does. This is `minigraph.data`.

        x = mg.data("x", shape=[None, 3, 8, 8])
    """
    return _feed_var(name, normalize_shape(shape, f"data({name!r}): shape"), dtype, lod_level, True)


def data(
    name: str,
    shape: Any,
    dtype: Any = "float32",
    append_batch_size: bool = True,
    lod_level: int = 0,
    stop_gradient: bool = True,
    type: Any = None,
) -> Variable:
    """fluid 1.x's feed variable: a -1 batch dimension is prepended to `shape` unless the
    shape already holds -1 (or None) or `append_batch_size=False`. `type` is accepted for
    ported scripts (every variable is a dense tensor).

        img = mg.layers.data("img", shape=[1, 28, 28])   # shape (-1, 1, 28, 28)
    """
    dims = normalize_shape(shape, f"data({name!r}): shape")
    if append_batch_size and -1 not in dims:
        dims = (-1, *dims)
    return _feed_var(name, dims, dtype, lod_level, stop_gradient)


def create_parameter(
    shape: Any,
    dtype: Any = "float32",
    name: str | None = None,
    attr: Any = None,
    is_bias: bool = False,
    default_initializer: Initializer | None = None,
) -> Parameter:
    """A free-standing parameter (initialised in the startup program)."""
    attr = ParamAttr.to_attr(attr)
    if attr is False:
        raise GraphBuildError("create_parameter: attr=False makes no sense here")
    if name is not None:
        attr.name = name
    helper = LayerHelper("create_parameter")
    return helper.create_parameter(attr, normalize_shape(shape), normalize_dtype(dtype), is_bias, default_initializer)


def create_global_var(
    shape: Any, value: float, dtype: Any, persistable: bool = False, force_cpu: bool = False, name: str | None = None
) -> Variable:
    """A variable filled with `value` by the startup program (and kept if persistable).
    `force_cpu` is accepted for Paddle compatibility (minigraph runs on the CPU)."""
    main, startup = default_main_program(), default_startup_program()
    name = name or main.names.generate("global_var")
    shape, dtype = normalize_shape(shape), normalize_dtype(dtype)
    constant_value(value, dtype, f"create_global_var {name!r} ({dtype})")  # before anything is created
    v = main.global_block().create_var(name, shape, dtype, persistable=persistable, stop_gradient=True)
    sv = startup.global_block().create_var(name, shape, dtype, persistable=persistable, stop_gradient=True)
    Constant(value)(sv, startup.global_block())
    return v


def fill_constant(shape: Any, dtype: Any, value: float, out: Variable | None = None) -> Variable:
    helper = LayerHelper("fill_constant")
    dtype = normalize_dtype(dtype)
    target = f"fill_constant({'out=' + repr(out.name) + ', ' if isinstance(out, Variable) else ''}dtype={dtype!r})"
    value = constant_value(value, dtype, target)
    out = out or helper.create_tmp(dtype, stop_gradient=True)
    helper.append_op(
        "fill_constant",
        {},
        {"Out": out},
        {"shape": list(normalize_shape(shape)), "dtype": dtype, "value": value},
    )
    return out


def assign(input: Any, output: Variable | None = None) -> Variable:
    """Copy `input` into `output` (a new variable if None). `input` is a variable, or a numpy
    array / nested list / number, which becomes a constant (`assign_value` op)."""
    helper = LayerHelper("assign")
    if not isinstance(input, Variable):
        arr = np.asarray(input)
        if arr.dtype.kind not in "fiub":
            raise GraphBuildError(f"assign: cannot make a constant from a {arr.dtype} value")
        # Python floats become float32 (as to_variable does); numpy arrays keep their dtype.
        plain_float = arr.dtype == np.float64 and not isinstance(input, (np.ndarray, np.generic))
        dtype = normalize_dtype("float32" if plain_float else arr.dtype)
        output = output or helper.create_tmp(dtype, stop_gradient=True)
        helper.append_op(
            "assign_value",
            {},
            {"Out": output},
            {"shape": list(arr.shape), "dtype": dtype, "values": arr.ravel().tolist()},
        )
        return output
    output = output or helper.create_tmp(input.dtype)
    helper.append_op("assign", {"X": input}, {"Out": output})
    return output


def cast(x: Variable, dtype: Any) -> Variable:
    if not isinstance(x, Variable):
        raise ArgumentTypeError(f"cast: x must be a Variable, got {type(x).__name__}")
    helper = LayerHelper("cast")
    dtype = normalize_dtype(dtype, f"cast({x.name!r}): dtype")
    out = helper.create_tmp(dtype)
    helper.append_op("cast", {"X": x}, {"Out": out}, {"in_dtype": x.dtype, "out_dtype": dtype})
    return out


def sums(input: list[Variable], out: Variable | None = None) -> Variable:
    helper = LayerHelper("sum")
    out = out or helper.create_tmp(input[0].dtype)
    helper.append_op("sum", {"X": list(input)}, {"Out": out})
    return out
