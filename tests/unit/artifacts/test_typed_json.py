from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import pytest

from ductwork.artifacts import typed_json


@pytest.mark.parametrize(
    "value",
    [
        0,
        -7,
        2**80,
        1.5,
        True,
        None,
        "text ü",
        [1, "a", None],
        {"a": {"b": [1, 2.0]}},
        (1, 2),
        ((1, 2), [3, (4,)]),
        {1: "one", (2, 3): "pair"},
        {"$tuple": [1]},  # a user key that looks like a tag must survive
        {"$x": 1, "y": 2},
        {1, 2, 3},
        frozenset({"a"}),
        b"\x00\xffbytes",
        [],
        {},
        (),
    ],
)
def test_round_trip_keeps_types(value: Any) -> None:
    back = typed_json.loads(typed_json.dumps(value))
    assert back == value
    assert type(back) is type(value)


def test_nested_types_survive() -> None:
    back = typed_json.loads(typed_json.dumps({"k": [(1, 2.0), {3}]}))
    assert type(back["k"][0]) is tuple
    assert type(back["k"][0][1]) is float
    assert type(back["k"][1]) is set


def test_non_finite_floats_are_valid_json() -> None:
    text = typed_json.dumps([math.inf, -math.inf, math.nan])
    assert "NaN" not in text and "Infinity" not in text
    inf, minus_inf, nan = typed_json.loads(text)
    assert inf == math.inf and minus_inf == -math.inf and math.isnan(nan)


def test_plain_values_encode_as_plain_json() -> None:
    assert typed_json.dumps({"a": [1, 2.5, "x", None, True]}) == '{"a":[1,2.5,"x",null,true]}'


@pytest.mark.parametrize("value", [object(), OrderedDict(a=1), [1, object()], {"k": {1.5j}}])
def test_other_types_are_refused(value: Any) -> None:
    with pytest.raises(typed_json.NotJsonValue):
        typed_json.dumps(value)


def test_unknown_tag_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\$nope"):
        typed_json.loads('{"$nope": 1}')
