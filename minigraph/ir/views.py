"""Read-only views of the IR's containers.

The executor caches a compiled plan per `Program.version`, so every change to a program
must go through a Block or Operator method that bumps the version. The containers the
public API exposes (`op.attrs`, `op.inputs`, `op.outputs`, `block.ops`; `block.vars` is a
`types.MappingProxyType`) therefore refuse writes, with an error naming the method to call.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, overload

from minigraph.errors import ReadOnlyError

if TYPE_CHECKING:
    from minigraph.ir.operator import Operator


class ReadOnlyDict(dict[str, Any]):
    """A dict that refuses writes, for an operator's attrs and slot -> names maps.

    NOTE: a dict subclass rather than a Mapping so that reads stay C-speed and
    `isinstance(op.attrs, dict)`, `json.dumps(op.attrs)` and `op.attrs == {...}` keep working
    for code written against the old plain dicts. Copies (`dict(...)`, `.copy()`,
    `copy.deepcopy`) are ordinary, writable dicts. The owner writes through
    `dict.__setitem__`, which is why this class is private to the IR.
    """

    __slots__ = ("_refusal",)

    def __init__(self, data: Any, refusal: str) -> None:
        super().__init__(data)
        self._refusal = refusal

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ReadOnlyError(self._refusal)

    __setitem__ = __delitem__ = __ior__ = _refuse
    update = pop = popitem = setdefault = clear = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


class OpList(Sequence["Operator"]):
    """`block.ops`: a live, read-only view of a block's operator list (indexing, slicing,
    `len`, iteration, `in`, `index`, and equality with lists and tuples)."""

    __slots__ = ("_ops",)

    _REFUSAL = (
        "block.ops is read-only; use block.append_op(...), block._insert_op(index, ...) or "
        "block._remove_op(index), which keep the program version (and executor plan caches) current"
    )

    def __init__(self, ops: list[Operator]) -> None:
        self._ops = ops

    @overload
    def __getitem__(self, i: int) -> Operator: ...

    @overload
    def __getitem__(self, i: slice) -> list[Operator]: ...

    def __getitem__(self, i: int | slice) -> Operator | list[Operator]:
        return self._ops[i]

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Operator]:
        return iter(self._ops)

    def __reversed__(self) -> Iterator[Operator]:
        return reversed(self._ops)

    def __contains__(self, op: object) -> bool:
        return op in self._ops

    def index(self, op: Any, start: int = 0, stop: int | None = None) -> int:
        return self._ops.index(op, start, len(self._ops) if stop is None else stop)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OpList):
            return self._ops == other._ops
        if isinstance(other, (list, tuple)):
            return self._ops == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"OpList({self._ops!r})"

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ReadOnlyError(self._REFUSAL)

    __setitem__ = __delitem__ = __iadd__ = _refuse
    append = insert = extend = pop = remove = clear = sort = reverse = _refuse
