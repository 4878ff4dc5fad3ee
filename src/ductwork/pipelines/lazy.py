"""`LazyValue`: what calling a component returns at once; it waits only when used.

Using it in any way (printing, arithmetic, comparing, `bool`, indexing, iterating, attribute
access) waits for the step to end and stands for its return value. Passing it (or lists and
dicts of them) to another component does not wait: it becomes that step's input and its parent.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any


class LazyValue:
    __slots__ = ("_ductwork_name", "_ductwork_node", "_ductwork_values")

    def __init__(self, node: Any, name: str | None, values: Callable[[Any, str | None], Any]) -> None:
        """Return value `name` of `node`'s step (None: the step returns nothing), as `values`
        gives it once the step has ended."""
        object.__setattr__(self, "_ductwork_node", node)
        object.__setattr__(self, "_ductwork_name", name)
        object.__setattr__(self, "_ductwork_values", values)

    def _ductwork_load(self) -> Any:
        return self._ductwork_values(self._ductwork_node, self._ductwork_name)

    def __getattr__(self, item: str) -> Any:
        return getattr(self._ductwork_load(), item)

    def __setattr__(self, item: str, value: Any) -> None:
        setattr(self._ductwork_load(), item, value)

    def __repr__(self) -> str:
        return repr(self._ductwork_load())

    def __str__(self) -> str:
        return str(self._ductwork_load())

    def __format__(self, spec: str) -> str:
        return format(self._ductwork_load(), spec)

    def __bool__(self) -> bool:
        return bool(self._ductwork_load())

    def __hash__(self) -> int:
        return hash(self._ductwork_load())

    def __len__(self) -> int:
        return len(self._ductwork_load())

    def __iter__(self) -> Any:
        return iter(self._ductwork_load())

    def __contains__(self, item: Any) -> bool:
        return item in self._ductwork_load()

    def __getitem__(self, key: Any) -> Any:
        return self._ductwork_load()[key]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._ductwork_load()(*args, **kwargs)

    def __int__(self) -> int:
        return int(self._ductwork_load())

    def __float__(self) -> float:
        return float(self._ductwork_load())

    def __complex__(self) -> complex:
        return complex(self._ductwork_load())

    def __index__(self) -> int:
        return operator.index(self._ductwork_load())

    def __round__(self, ndigits: int | None = None) -> Any:
        return round(self._ductwork_load(), ndigits)

    def __neg__(self) -> Any:
        return -self._ductwork_load()

    def __pos__(self) -> Any:
        return +self._ductwork_load()

    def __abs__(self) -> Any:
        return abs(self._ductwork_load())

    def __invert__(self) -> Any:
        return ~self._ductwork_load()

    def __reduce__(self) -> Any:
        # Pickling a lazy value (a deepcopy, a process boundary) stores the value itself.
        value = self._ductwork_load()
        return (_identity, (value,))

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        import numpy as np

        return np.asarray(self._ductwork_load(), *args, **kwargs)


def _identity(value: Any) -> Any:
    return value


def _binary(op: Callable[[Any, Any], Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def forward(self: LazyValue, other: Any) -> Any:
        return op(self._ductwork_load(), unwrap(other))

    def backward(self: LazyValue, other: Any) -> Any:
        return op(unwrap(other), self._ductwork_load())

    return forward, backward


for _name, _op in {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "matmul": operator.matmul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "pow": operator.pow,
    "lshift": operator.lshift,
    "rshift": operator.rshift,
    "and": operator.and_,
    "or": operator.or_,
    "xor": operator.xor,
    "divmod": divmod,
}.items():
    _forward, _backward = _binary(_op)
    setattr(LazyValue, f"__{_name}__", _forward)
    setattr(LazyValue, f"__r{_name}__", _backward)

for _name, _op in {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}.items():
    setattr(LazyValue, f"__{_name}__", _binary(_op)[0])


def unwrap(value: Any) -> Any:
    return value._ductwork_load() if isinstance(value, LazyValue) else value


def owner(value: Any) -> tuple[Any, str] | None:
    """The (node, return name: "" for none) a lazy value stands for, or None for any other value."""
    if isinstance(value, LazyValue):
        name = object.__getattribute__(value, "_ductwork_name")
        return object.__getattribute__(value, "_ductwork_node"), name or ""
    return None


def producers(value: Any, found: set[str]) -> None:
    """Names of the steps whose lazy values appear anywhere in `value`."""
    kind = type(value)
    if kind is int or kind is str or kind is float or kind is bool or value is None:
        return  # most arguments
    pair = owner(value)
    if pair is not None:
        found.add(pair[0].name)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            producers(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            producers(item, found)
