"""Bounds on everything a request carries, checked once before any endpoint runs.

One app-wide dependency (`checked_input`) walks the path parameters, the query parameters
and the decoded JSON body of every request and answers 422, naming the field, for a value
that no store could hold or that would only waste the server's time:

* a NUL character in any string, key or parameter (PostgreSQL text and jsonb cannot hold it);
* a query or path parameter longer than `MAX_PARAM` characters; an integer parameter
  outside 64 bits;
* a JSON string longer than the longest Text column, a list or object of more than
  `MAX_ITEMS` members, nesting deeper than `MAX_DEPTH`, more than `MAX_VALUES` values.

What a particular column holds (a 32-bit priority, a 512-character name) the store checks
itself, naming the field too, so the embedded store and the server refuse the same values; a
value of another JSON type than its field's is refused here (`jsontypes`), before FastAPI's
own validation could convert it, and the value found is the body a `Checked` parameter gets
(each body validated once).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any

from fastapi import Request

from ductwork.core.errors import ValidationError
from ductwork.server.services import jsontypes
from ductwork.store import bounds

MAX_PARAM = 4096  # characters of one path or query parameter (ids are 32, names at most 512)
MAX_DEPTH = 64
MAX_ITEMS = 100_000  # members of one list or object (SDK batches hold at most 20,000)
MAX_VALUES = 2_000_000  # values in one body
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


async def checked_input(request: Request) -> None:
    """The app-wide dependency: ValidationError (422) for the first value out of bounds."""
    route = request.scope.get("route")
    integers = _integer_params(route)
    for name, value in request.path_params.items():
        _parameter(f"path parameter {name}", str(value), name in integers)
    for name, value in request.query_params.multi_items():
        _parameter(f"query parameter {name}", value, name in integers)
    if getattr(route, "body_field", None) is None:
        return  # no JSON body (an upload streams its bytes; nothing was read)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() in _FORMS:
        return  # form fields are strings; the store checks what it keeps of them
    try:
        # FastAPI has already read and decoded the body for the endpoint (both are cached).
        if not await request.body():
            return
        data = await request.json()
    except Exception:
        return  # not JSON: FastAPI answers that itself
    walk(data, "body")
    # Within bounds: now each value's JSON type; the strict value is the body from here on.
    jsontypes.check(route, await request.body(), data)


def _parameter(field: str, value: str, integer: bool) -> None:
    if len(value) > MAX_PARAM:
        raise ValidationError(f"{field} is too long: {len(value)} characters, at most {MAX_PARAM}")
    if "\x00" in value:
        raise ValidationError(f"{field} contains a NUL character")
    if integer:
        digits = value.strip().lstrip("+-")
        if digits.isdigit() and (len(digits) > 19 or not bounds.INT64[0] <= int(value) <= bounds.INT64[1]):
            raise ValidationError(f"{field} must be between {bounds.INT64[0]} and {bounds.INT64[1]}")


def walk(data: Any, field: str) -> None:
    """Every string, key, list and object in `data` within the bounds above."""
    count = 0
    pending: list[tuple[Any, int, str]] = [(data, 0, field)]  # no recursion: depth is input
    while pending:
        item, depth, path = pending.pop()
        count += 1
        if count > MAX_VALUES:
            raise ValidationError(f"{field} holds more than {MAX_VALUES} values")
        if isinstance(item, str):
            bounds.text(item, path)
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                raise ValidationError(f"{path} nests deeper than {MAX_DEPTH} levels")
            if len(item) > MAX_ITEMS:
                raise ValidationError(f"{path} holds {len(item)} members, at most {MAX_ITEMS}")
            if isinstance(item, dict):
                for key, member in item.items():
                    bounds.text(key, f"{path} key {bounds.short(key)}", MAX_PARAM)
                    pending.append((member, depth + 1, f"{path}.{key}"))
            else:
                pending.extend((member, depth + 1, f"{path}[{i}]") for i, member in enumerate(item))


# The attribute a route keeps the names of its integer parameters in: on the route itself, as
# jsontypes keeps its body type, not in a table by id(route). A test process makes many apps, and
# once a route is collected a new one can get its id, and with it the old route's answer.
_INTEGERS = "_ductwork_integer_params"


def _integer_params(route: Any) -> frozenset[str]:
    """Names of the route's query and path parameters declared as integers (found once a route)."""
    if route is None or not hasattr(route, "dependant"):
        return frozenset()
    found: frozenset[str] | None = getattr(route, _INTEGERS, None)
    if found is None:
        found = frozenset(
            param.alias for param in _params(route.dependant) if _is_int(param.field_info.annotation)
        )
        setattr(route, _INTEGERS, found)
    return found


def _params(dependant: Any) -> Iterator[Any]:
    yield from dependant.query_params
    yield from dependant.path_params
    for sub in dependant.dependencies:
        yield from _params(sub)


def _is_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return int in typing.get_args(annotation)
    return False
