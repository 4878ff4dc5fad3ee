"""JSON text from json's own C encoder, made once for a set of options.

`json.dumps` and `JSONEncoder.encode` make a new encoder at every call; for the small values a
run writes at each step (a task's runtime, a parameter, a result, its DAG entry) making it was
most of the cost. An encoder made here has no circular check: a value that holds itself fails
on depth (RecursionError) instead of with json's ValueError.

    compact = encoder(separators=(",", ":"))
    compact({"a": [1, 2]})  # '{"a":[1,2]}'
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from typing import Any

Encode = Callable[[Any], str]


def encoder(
    *,
    default: Callable[[Any], Any] | None = None,
    ensure_ascii: bool = True,
    separators: tuple[str, str] = (", ", ": "),
    allow_nan: bool = True,
) -> Encode:
    """What `json.dumps(value, **options)` gives. Python without the C encoder, or with one of
    another shape (it encodes a sample unlike `JSONEncoder`), gets `JSONEncoder.encode`."""
    python = json.JSONEncoder(
        default=default,
        ensure_ascii=ensure_ascii,
        separators=separators,
        allow_nan=allow_nan,
        check_circular=False,
    )
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return python.encode
    text = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    item_separator, key_separator = separators
    made = make(None, default or _refuse, text, None, key_separator, item_separator, False, False, allow_nan)

    def encode(value: Any) -> str:
        return "".join(made(value, 0))

    sample = {"a": [1, 2.5, None, True, "\x00é"], "b": {}, "1": -(2**70), "s": "x"}
    try:
        same = encode(sample) == python.encode(sample) and encode("é") == python.encode("é")
    except Exception:  # a C encoder that takes other arguments
        return python.encode
    return encode if same else python.encode


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
