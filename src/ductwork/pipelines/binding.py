"""A decorator component's call: its arguments bound to its function's signature, which is read
once per function (every call of a component binds to the same one)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from ductwork.core.errors import ValidationError


def bind(
    name: str, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Positional arguments by their names (extra ones stay positional), defaults filled in."""
    signature = _signature(function)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise ValidationError(f"component {name!r}: {exc}") from None
    bound.apply_defaults()
    positional: tuple[Any, ...] = ()
    named: dict[str, Any] = {}
    for key, value in bound.arguments.items():
        kind = signature.parameters[key].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            positional = tuple(value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        else:
            named[key] = value
    if positional:
        # A function with *args gets everything positionally, in order.
        ordered = [
            named.pop(p)
            for p in list(named)
            if signature.parameters.get(p) is not None
            and signature.parameters[p].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        return (*ordered, *positional), named
    return (), named


@functools.lru_cache(maxsize=1024)
def _signature(function: Callable[..., Any]) -> inspect.Signature:
    """A component's signature, read once: each call of the component binds to it."""
    return inspect.signature(innermost(function))


def innermost(function: Callable[..., Any]) -> Callable[..., Any]:
    """The user's function under its decorators, which names the step (as in ClearML): through
    `__wrapped__`, and into the closure of a wrapper written without functools.wraps."""
    from ductwork.codegen.definitions import unwrap_quietly

    found = unwrap_quietly(function)
    if found is not None:
        return found  # type: ignore[no-any-return]
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    return function
