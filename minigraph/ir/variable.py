"""Variable and Parameter: records describing a value in a Block.

A variable of a static program holds no data (the Scope does). A variable of an eager tape
(see `minigraph.dygraph`) is the same record with its value attached: `value`, a `version`
counting in-place overwrites, the gradient accumulated by `backward()`, and the tape entries
that computed each version. One class serves both, so layers, optimizers and Layer objects
never ask which kind they hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from minigraph.errors import GraphBuildError, InvalidArgumentError
from minigraph.ir.arithmetic import Operators
from minigraph.types import normalize_dtype, normalize_shape, shape_text

if TYPE_CHECKING:
    from minigraph.ir.block import Block


class Variable(Operators):
    """A named value in a block: name, shape (-1 for an unknown dim), dtype name, flags."""

    __slots__ = (
        "name",
        "shape",
        "dtype",
        "persistable",
        "stop_gradient",
        "block",
        "is_data",
        "value",
        "version",
        "_grad",
        "_producers",
        "__weakref__",
    )

    def __init__(
        self,
        block: Block,
        name: str,
        shape: Any = (),
        dtype: Any = "float32",
        persistable: bool = False,
        stop_gradient: bool = False,
        is_data: bool = False,
    ) -> None:
        self.block = block
        self.name = name
        self.shape = normalize_shape(shape)
        self.dtype = normalize_dtype(dtype)
        self.persistable = bool(persistable)
        self.stop_gradient = bool(stop_gradient)
        self.is_data = bool(is_data)
        self.value: np.ndarray | None = None  # only on an eager tape
        self.version = 0  # bumped when an eager op overwrites the value
        self._grad: np.ndarray | None = None
        self._producers: dict[int, Any] = {}  # version -> the tape entry that computed it

    @property
    def kind(self) -> str:
        """One of "data", "param", "persist", "var": the role a reader cares about."""
        if self.is_data:
            return "data"
        return "persist" if self.persistable else "var"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name} : {self.dtype}{shape_text(self.shape)})"

    __hash__ = object.__hash__

    # --- values (eager) ---------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A copy of the value (eager mode); a static variable is fetched with Executor.run."""
        if self.value is None:
            raise GraphBuildError(
                f"variable {self.name!r} holds no value: in a static program, fetch it with "
                f"exe.run(program, feed=..., fetch_list=[{self.name!r}])"
            )
        return np.array(self.value, copy=True)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.numpy(), dtype=dtype)

    def set_value(self, value: Any) -> None:
        """Replace an eager variable's value (same shape; cast to its dtype)."""
        arr = np.asarray(value)
        if self.value is None:
            raise GraphBuildError(
                f"set_value: {self.name!r} is a static variable; its value lives in a Scope "
                f"(scope.var({self.name!r}).set(value))"
            )
        if arr.shape != self.value.shape:
            raise InvalidArgumentError(f"set_value: {self.name!r} has shape {self.value.shape}, got {arr.shape}")
        self.value = np.array(arr, dtype=self.value.dtype, copy=True)

    # --- gradients (eager) ------------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        return self.version not in self._producers

    def gradient(self) -> np.ndarray | None:
        """The accumulated gradient (a copy), or None if backward never reached this variable."""
        return None if self._grad is None else np.array(self._grad, copy=True)

    def clear_gradient(self) -> None:
        self._grad = None

    def backward(self, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every eager leaf that needs a gradient. A static
        program differentiates with `append_backward(loss)` or `optimizer.minimize(loss)`."""
        builder = self.block.program.eager_builder
        if builder is None:
            raise GraphBuildError(
                f"backward(): {self.name!r} is a static variable; use append_backward({self.name}) "
                f"or optimizer.minimize({self.name}) to add gradient ops to its program"
            )
        builder.run_backward(self, retain_graph)

    def detach(self) -> Variable:
        """A new eager variable sharing this value, cut off from the gradient graph."""
        out = self.block.create_var(self.name + ".detached", self.shape, self.dtype, stop_gradient=True)
        out.value = self.value
        return out


class Parameter(Variable):
    """A trainable (or statistics) variable, persistable, initialised by the startup program
    (or at once in eager mode)."""

    # The flags a parameter carries beyond a variable's; copied together wherever a
    # parameter is re-created (another program, a trace, a loaded file).
    FLAGS = ("trainable", "optimize_attr", "regularizer", "do_model_average", "need_clip")

    __slots__ = FLAGS

    def __init__(
        self,
        block: Block,
        name: str,
        shape: Any,
        dtype: Any = "float32",
        trainable: bool = True,
        optimize_attr: dict[str, float] | None = None,
        regularizer: Any = None,
        do_model_average: bool = True,
        need_clip: bool = True,
        stop_gradient: bool | None = None,
    ) -> None:
        super().__init__(
            block,
            name,
            shape,
            dtype,
            persistable=True,
            stop_gradient=(not trainable) if stop_gradient is None else stop_gradient,
        )
        self.trainable = bool(trainable)
        self.optimize_attr = dict(optimize_attr or {"learning_rate": 1.0})
        self.regularizer = regularizer
        self.do_model_average = bool(do_model_average)
        self.need_clip = bool(need_clip)

    def flags(self) -> dict[str, Any]:
        """The parameter's flags as keyword arguments for creating an equivalent one."""
        return {
            "trainable": self.trainable,
            "optimize_attr": dict(self.optimize_attr),
            "regularizer": self.regularizer,
            "do_model_average": self.do_model_average,
            "need_clip": self.need_clip,
        }

    @property
    def kind(self) -> str:
        return "param"
