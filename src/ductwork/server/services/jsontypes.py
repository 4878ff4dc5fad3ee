"""Request bodies keep their JSON types: the server never converts a value to fit a field.

FastAPI validates a body as Python data in pydantic's lax mode, which converts: the text "1"
becomes 1.0 in a `float` field (a metric's value), 3 in an `int` one, True in a `bool` one.
The embedded store refuses those values (`store.bounds`), so the transports disagreed and a
client's mistake was stored as something it never sent. Every JSON body is therefore first
validated against the route's body type in pydantic's strict mode (`check`, called by
`limits.checked_input` once the body is within bounds): a value whose JSON type is not the
field's is a 422 naming the field, as the embedded store refuses it. A JSON integer still
fills a float field (JSON has one number type: `1` for a float is 1.0 on every transport),
and values typed `Any` (parameters, payloads, runtime) pass through as they are.

Strict mode runs on the JSON text, where a dataclass is written as an object (strict Python
validation would demand dataclass instances). FastAPI's own lax pass then runs on a body the
strict pass accepted, so it converts nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

# The attribute a route keeps its adapted body type in (on the route itself, not in a table by
# id(): a test process makes many apps, and a collected route's id can come back as another's).
ATTRIBUTE = "_ductwork_json_types"


def check(route: Any, body: bytes) -> None:
    """RequestValidationError (422, naming each field) when `body` holds a value of another
    JSON type than the route's body field declares."""
    adapter = _adapter(route)
    if adapter is None:
        return
    try:
        adapter.validate_json(body, strict=True)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def _adapter(route: Any) -> TypeAdapter[Any] | None:
    if route is None:
        return None
    try:
        found: TypeAdapter[Any] | None = getattr(route, ATTRIBUTE)
    except AttributeError:
        field = getattr(route, "body_field", None)
        # A route with several body parameters has FastAPI's model of them as its field.
        found = None if field is None else TypeAdapter(field.field_info.annotation)
        setattr(route, ATTRIBUTE, found)
    return found
