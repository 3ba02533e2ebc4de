"""Eager variables: a value plus what backward needs (stop_gradient, accumulated grad,
and a version that counts in-place overwrites)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.ir.variable import Operators
from minigraph.types import dtype_name, normalize_dtype, shape_text


class EagerVariable(Operators):
    """A tensor computed now. Quacks like a static Variable (name, shape, dtype,
    stop_gradient) so the same layer builders accept it."""

    __slots__ = ("name", "value", "stop_gradient", "persistable", "version", "_grad", "_producers", "__weakref__")

    def __init__(
        self, name: str, value: np.ndarray | None = None, stop_gradient: bool = True, persistable: bool = False
    ) -> None:
        self.name = name
        self.value = value
        self.stop_gradient = stop_gradient
        self.persistable = persistable
        self.version = 0  # bumped when an op overwrites the value
        self._grad: np.ndarray | None = None
        self._producers: dict[int, Any] = {}  # version -> the tape entry that computed it

    # --- Variable-like metadata ------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return () if self.value is None else tuple(self.value.shape)

    @shape.setter
    def shape(self, _: Any) -> None:  # builders may set inferred shapes; the value decides
        pass

    @property
    def dtype(self) -> str:
        return "float32" if self.value is None else dtype_name(self.value.dtype)

    @dtype.setter
    def dtype(self, _: Any) -> None:
        pass

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_data(self) -> bool:
        return False

    @property
    def block(self) -> Any:
        """The eager block of the active tracer (so code written against static Variables,
        such as regularizers and gradient clips, runs eagerly too)."""
        from minigraph.dygraph.tracer import current_tracer

        tracer = current_tracer()
        if tracer is None:
            raise RuntimeError(f"eager variable {self.name!r} used outside minigraph.dygraph.guard()")
        return tracer.block

    @property
    def is_leaf(self) -> bool:
        return self.version not in self._producers

    # --- values and gradients ---------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A copy of the value."""
        if self.value is None:
            raise ValueError(f"eager variable {self.name!r} has no value")
        return np.array(self.value, copy=True)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.numpy(), dtype=dtype)

    def gradient(self) -> np.ndarray | None:
        """The accumulated gradient (a copy), or None if backward never reached this variable."""
        return None if self._grad is None else np.array(self._grad, copy=True)

    def clear_gradient(self) -> None:
        self._grad = None

    def backward(self, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf that needs a gradient."""
        from minigraph.dygraph.backward import run_backward

        run_backward(self, retain_graph)

    def set_value(self, value: Any) -> None:
        arr = np.asarray(value)
        if self.value is not None:
            if arr.shape != self.value.shape:
                raise ValueError(f"set_value: {self.name!r} has shape {self.value.shape}, got {arr.shape}")
            arr = arr.astype(self.value.dtype)
        self.value = np.array(arr, copy=True)

    def astype(self, dtype: Any) -> EagerVariable:
        from minigraph.layers.tensor import cast

        return cast(self, normalize_dtype(dtype))

    def detach(self) -> EagerVariable:
        return EagerVariable(self.name + ".detached", self.value, stop_gradient=True)

    def __repr__(self) -> str:
        return f"EagerVariable({self.name} : {self.dtype}{shape_text(self.shape)}, stop_gradient={self.stop_gradient})"

    # --- arithmetic runs ops now (the operators come from ir.variable.Operators) -----------
    def _binary(self, other: Any, op: str, reverse: bool = False) -> EagerVariable:
        from minigraph.dygraph.arithmetic import binary

        return binary(self, other, op, reverse)

    def __neg__(self) -> EagerVariable:
        from minigraph.dygraph.arithmetic import negate

        return negate(self)

    __hash__ = object.__hash__


class EagerParameter(EagerVariable):
    """A parameter owned by an eager layer: persistable, with the static Parameter's flags."""

    __slots__ = ("trainable", "optimize_attr", "regularizer", "do_model_average", "need_clip")

    def __init__(
        self,
        name: str,
        value: np.ndarray,
        trainable: bool = True,
        optimize_attr: dict[str, float] | None = None,
        regularizer: Any = None,
        do_model_average: bool = True,
        need_clip: bool = True,
        stop_gradient: bool | None = None,
    ) -> None:
        super().__init__(
            name, value, stop_gradient=(not trainable) if stop_gradient is None else stop_gradient, persistable=True
        )
        self.trainable = trainable
        self.optimize_attr = dict(optimize_attr or {"learning_rate": 1.0})
        self.regularizer = regularizer
        self.do_model_average = do_model_average
        self.need_clip = need_clip

    def __repr__(self) -> str:
        return f"EagerParameter({self.name} : {self.dtype}{shape_text(self.shape)})"
