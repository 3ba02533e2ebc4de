"""Variable and Parameter: plain records describing a value in a Block."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minigraph.types import normalize_dtype, normalize_shape, shape_text

if TYPE_CHECKING:
    from minigraph.ir.block import Block


class Operators:
    """`+ - * / @` (and their reflections) in terms of `self._binary(other, op, reverse)`,
    shared by static Variables (which append ops) and eager variables (which run them)."""

    __slots__ = ()

    def _binary(self, other: Any, op: str, reverse: bool = False) -> Any:
        raise NotImplementedError

    def __add__(self, o: Any) -> Any:
        return self._binary(o, "add")

    def __radd__(self, o: Any) -> Any:
        return self._binary(o, "add", True)

    def __sub__(self, o: Any) -> Any:
        return self._binary(o, "sub")

    def __rsub__(self, o: Any) -> Any:
        return self._binary(o, "sub", True)

    def __mul__(self, o: Any) -> Any:
        return self._binary(o, "mul")

    def __rmul__(self, o: Any) -> Any:
        return self._binary(o, "mul", True)

    def __truediv__(self, o: Any) -> Any:
        return self._binary(o, "div")

    def __rtruediv__(self, o: Any) -> Any:
        return self._binary(o, "div", True)

    def __matmul__(self, o: Any) -> Any:
        return self._binary(o, "matmul")

    def __rmatmul__(self, o: Any) -> Any:
        return self._binary(o, "matmul", True)


class Variable(Operators):
    """A named value in a block. In static mode it holds no data; the Scope does."""

    __slots__ = ("name", "shape", "dtype", "persistable", "stop_gradient", "block", "is_data")

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
        return f"Variable({self.name} : {self.dtype}{shape_text(self.shape)})"

    # Arithmetic appends ops to the variable's program (minigraph.ir.arithmetic).
    def _binary(self, other: Any, op: str, reverse: bool = False) -> Variable:
        from minigraph.ir.arithmetic import binary

        return binary(self, other, op, reverse)

    def __neg__(self) -> Variable:
        from minigraph.ir.arithmetic import negate

        return negate(self)

    __hash__ = object.__hash__


class Parameter(Variable):
    """A trainable (or statistics) variable, persistable, initialised by the startup program."""

    __slots__ = ("trainable", "optimize_attr", "regularizer", "do_model_average", "need_clip")

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

    @property
    def kind(self) -> str:
        return "param"

    def __repr__(self) -> str:
        return f"Parameter({self.name} : {self.dtype}{shape_text(self.shape)})"
