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
    plain = _plain(function)
    if plain is not None:
        by_name = plain.bind(args, kwargs)
        if by_name is not None:
            return (), by_name
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


class _Plain:
    """A signature of named parameters only (no `*args`, `**kwargs` or positional-only ones,
    the usual component): bound with a dict instead of `Signature.bind`, a step's call the
    cheaper for it."""

    def __init__(self, signature: inspect.Signature) -> None:
        self.names = tuple(signature.parameters)
        self.positional = sum(  # the positional ones come first
            p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in signature.parameters.values()
        )
        self.known = frozenset(self.names)
        self.defaults = {
            name: p.default for name, p in signature.parameters.items() if p.default is not p.empty
        }

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The arguments by name in the signature's order; None when they do not plainly fit
        (too many, unknown or repeated names, one missing): `Signature.bind` then says why."""
        if len(args) > self.positional:
            return None
        given = dict(zip(self.names, args, strict=False))  # fewer args than names
        for key in kwargs:
            if key in given or key not in self.known:
                return None
        given.update(kwargs)
        if len(given) < len(self.names):
            for name, default in self.defaults.items():
                given.setdefault(name, default)
        if len(given) < len(self.names):
            return None
        return {name: given[name] for name in self.names}


@functools.lru_cache(maxsize=1024)
def _plain(function: Callable[..., Any]) -> _Plain | None:
    signature = _signature(function)
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    if any(p.kind not in named for p in signature.parameters.values()):
        return None
    return _Plain(signature)


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
