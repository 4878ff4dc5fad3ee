"""A component call's arguments bound by name: the plain path (named parameters only) binds
exactly as `inspect.Signature.bind` does, and a call that does not fit is refused with its
words."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from ductwork.core.errors import ValidationError
from ductwork.pipelines import binding


def named(a, b=2, *, c, d=4):
    return a


def pair(a, b):
    return a


def spread(a, *rest, x=1, **more):
    return a


def only(a, /, b):
    return a


CALLS = [
    (named, (1,), {"c": 3}),
    (named, (1, 5), {"c": 3, "d": 0}),
    (named, (), {"c": 3, "a": 1}),
    (named, (1, 2, 3), {}),  # c is keyword-only
    (named, (1,), {"a": 1, "c": 2}),  # a twice
    (named, (1,), {}),  # c missing
    (named, (1,), {"c": 1, "zz": 2}),  # unknown name
    (pair, (1, 2), {}),
    (pair, (1,), {"b": 5}),
    (pair, (), {}),
    (spread, (1, 2, 3), {"y": 4}),
    (only, (1, 2), {}),
]


def _reference(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except TypeError as exc:
        return f"component 'f': {exc}"
    bound.apply_defaults()
    return bound.arguments


@pytest.mark.parametrize(("function", "args", "kwargs"), CALLS)
def test_a_call_binds_as_the_signature_does(
    function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    expected = _reference(function, args, kwargs)
    try:
        positional, by_name = binding.bind("f", function, args, kwargs)
    except ValidationError as exc:
        assert str(exc) == expected
        return
    assert not isinstance(expected, str), f"bound {by_name} where Signature.bind refuses: {expected}"
    if function is spread:
        assert positional == (1, 2, 3) and by_name == {"x": 1, "y": 4}
        return
    assert positional == ()
    assert list(by_name.items()) == list(expected.items())  # the signature's order, defaults in


def test_the_plain_path_takes_only_named_parameters() -> None:
    assert binding._plain(named) is not None and binding._plain(pair) is not None
    assert binding._plain(spread) is None and binding._plain(only) is None
