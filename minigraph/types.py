"""dtypes and shapes: the vocabulary every layer of minigraph shares (a leaf module: numpy
and minigraph.errors only). Bad dtypes and shapes raise MinigraphErrors (also TypeError or
ValueError) whose message starts with `what`: the call and argument, when the caller says."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import ArgumentTypeError, GraphBuildError, InvalidArgumentError

FLOAT_DTYPES = ("float16", "float32", "float64")
DTYPES = FLOAT_DTYPES + ("int8", "int16", "int32", "int64", "uint8", "bool")
_DTYPE_SET = frozenset(DTYPES)


def normalize_dtype(dtype: Any, what: str = "dtype") -> str:
    """Accept "float32", np.float32, np.dtype("float32"), ... and return the numpy name."""
    if isinstance(dtype, str) and dtype in _DTYPE_SET:  # the common case, and eager mode pays this per variable
        return dtype
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise ArgumentTypeError(f"{what}: unknown dtype {dtype!r}") from None
    if name not in DTYPES:
        raise ArgumentTypeError(f"{what}: unsupported dtype {name!r}; minigraph supports {', '.join(DTYPES)}")
    return name


_DTYPE_NAMES: dict[np.dtype[Any], str] = {}


def dtype_name(dtype: np.dtype[Any]) -> str:
    """`dtype.name`, cached: numpy computes it in Python on every access (microseconds),
    which eager mode would pay several times per op."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = dtype.name
    return name


def normalize_shape(shape: Any, what: str = "shape") -> tuple[int, ...]:
    if shape is None:
        return ()
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise ArgumentTypeError(f"{what}: a shape must be a list of ints, got {shape!r}")
    return tuple(_dim(d, what) for d in shape)


def _dim(d: Any, what: str) -> int:
    """One dimension: an int >= 0, or -1 / None for "unknown"."""
    if d is None:
        return -1
    if isinstance(d, float) and d.is_integer():
        d = int(d)
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise ArgumentTypeError(f"{what}: shape dimensions must be ints (or None/-1 for unknown), got {d!r}")
    if d < -1:
        raise InvalidArgumentError(f"{what}: dimension {d} is negative; use -1 or None for an unknown size")
    return int(d)


def constant_misfit(value: Any, dtype: str) -> str | None:
    """Why the number `value` cannot be stored as `dtype` without changing it (numpy would
    wrap an integer around, or turn a float into inf), or None when it can. Fractions stored
    in an integer dtype are truncated, as Paddle does: that is not a misfit."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return None
    v = float(value)
    if dt.kind in "iu":
        if not np.isfinite(v):
            return f"{value!r} is not a finite number, which {dtype} cannot hold"
        info = np.iinfo(dt)
        if not info.min <= int(v) <= info.max:
            return f"{value!r} is outside {dtype}'s range {info.min}..{info.max}"
        return None
    if np.isfinite(v) and abs(v) > float(np.finfo(dt).max):
        return f"{value!r} is beyond {dtype}'s largest value {np.finfo(dt).max} (it would become inf)"
    return None


def constant_value(value: Any, dtype: str, where: str) -> float:
    """`value` as the float a fill_constant attr holds, once checked: a number (a bool
    counts) that `dtype` can hold. Errors start with `where` (the call and the variable)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if not isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        raise ArgumentTypeError(f"{where}: value must be a number, got {value!r}")
    misfit = constant_misfit(value, dtype)
    if misfit is not None:
        raise GraphBuildError(f"{where}: value {misfit}")
    return float(value)


def shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"
