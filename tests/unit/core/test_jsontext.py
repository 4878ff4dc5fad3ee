"""Encoders made once (`jsontext.encoder`) give what json.dumps gives with the same options,
errors included, with json's C encoder and without it."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from ductwork.core import jsontext

VALUES: list[Any] = [
    {"a": [1, 2.5, None, True, False], "b": {}, "c": [], "1": -(2**70)},
    "plain",
    'é\x00\u2603\n"quoted" \\',
    {"é": "ü", "nested": {"deep": [[[]]], "x": 1796538355.2246776}},
    [0.1, 1e300, -0.0, 5, "x"],
    17,
    None,
]
OPTIONS: list[dict[str, Any]] = [
    {},
    {"ensure_ascii": False, "separators": (",", ":"), "allow_nan": False},
    {"default": str},
]


@pytest.fixture(params=["c", "python"])
def flavour(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "python":  # a Python without json's C encoder
        monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    return str(request.param)


@pytest.mark.parametrize("options", OPTIONS)
def test_the_text_is_json_dumps(flavour: str, options: dict[str, Any]) -> None:
    encode = jsontext.encoder(**options)
    for value in VALUES:
        assert encode(value) == json.dumps(value, **options)


def test_the_errors_are_json_dumps(flavour: str) -> None:
    finite = jsontext.encoder(allow_nan=False)
    with pytest.raises(ValueError, match="Out of range float"):
        finite({"x": [math.nan]})
    assert jsontext.encoder()(math.inf) == json.dumps(math.inf)
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        jsontext.encoder()({"s": {1}})
    assert jsontext.encoder(default=str)({"s": {1}}) == json.dumps({"s": {1}}, default=str)
