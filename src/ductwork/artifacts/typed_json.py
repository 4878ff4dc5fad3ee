"""JSON that gives back the Python types it was given.

Plain JSON turns a tuple into a list, an int dict key into a str and cannot say NaN in a way a
browser accepts. Artifacts must come back as they went in, so values that plain JSON would change
are wrapped in a one-key tag object: `{"$tuple": [...]}`, `{"$set": [...]}`, `{"$frozenset": [...]}`,
`{"$dict": [[key, value], ...]}` (keys that are not str, or a str key starting with `$`),
`{"$bytes": "<base64>"}` and `{"$float": "nan" | "inf" | "-inf"}`. A value made only of dicts with
plain str keys, lists, str, int, finite float, bool and None encodes to exactly the JSON anyone
would write, so the UI and other tools read it without knowing the tags.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from ductwork.core import jsontext

_SCALARS = (str, int, float, bool, type(None))


class NotJsonValue(TypeError):
    """The value holds something this codec does not carry (it goes to another serializer)."""


def dumps(value: Any) -> str:
    """Encode `value` as compact JSON text; raises NotJsonValue for unsupported contents."""
    return _COMPACT(_encode(value))


# json.dumps with these options makes an encoder at each call: one, made once (it keeps no state).
_COMPACT = jsontext.encoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes) -> Any:
    """Decode text written by `dumps` (plain JSON decodes as usual)."""
    return _decode(json.loads(text))


def is_candidate(value: Any) -> bool:
    """Cheap first check: is the outermost type one this codec may carry?"""
    return type(value) in (dict, list, tuple, set, frozenset, bytes, *_SCALARS)


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is bool or kind is int or value is None:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if kind is list:
        return [_encode(item) for item in value]
    if kind is dict:
        if all(type(key) is str and not key.startswith("$") for key in value):
            return {key: _encode(item) for key, item in value.items()}
        return {"$dict": [[_encode(key), _encode(item)] for key, item in value.items()]}
    if kind is tuple:
        return {"$tuple": [_encode(item) for item in value]}
    if kind is set or kind is frozenset:
        tag = "$set" if kind is set else "$frozenset"
        return {tag: [_encode(item) for item in value]}
    if kind is bytes:
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    # Subclasses (OrderedDict, IntEnum, numpy scalars...) would lose their type: not ours to carry.
    raise NotJsonValue(f"{kind.__module__}.{kind.__qualname__} is not a JSON value")


def _decode(node: Any) -> Any:
    if isinstance(node, list):
        return [_decode(item) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, body),) = node.items()
        if key.startswith("$"):
            return _decode_tag(key, body)
    return {key: _decode(item) for key, item in node.items()}


def _decode_tag(tag: str, body: Any) -> Any:
    if tag == "$tuple":
        return tuple(_decode(item) for item in body)
    if tag == "$set":
        return {_decode(item) for item in body}
    if tag == "$frozenset":
        return frozenset(_decode(item) for item in body)
    if tag == "$dict":
        return {_decode(key): _decode(item) for key, item in body}
    if tag == "$bytes":
        return base64.b64decode(body)
    if tag == "$float":
        return float(body)
    raise ValueError(f"unknown tag {tag!r} in typed JSON")
