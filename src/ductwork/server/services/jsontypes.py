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
validation would demand dataclass instances). Its result is the body: an endpoint's body
parameter typed `Checked[T]` takes it instead of validating the same data again in FastAPI's
lax pass (a tenth of a 5,000-event metrics POST). The hand-over is by identity: `check` keeps
the parsed body FastAPI is about to validate beside its strict value (in the request's context),
and the body field gives that value back only for that very object. Any other input (one the
strict pass did not see: a form, a body not sent as JSON; a body with an integer too large
for a float, `_read_alike`) gets FastAPI's own validation too, as every body did before.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Annotated, Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import GetCoreSchemaHandler, TypeAdapter, ValidationError
from pydantic_core import CoreSchema, core_schema

# The attribute a route keeps its adapted body type in (on the route itself, not in a table by
# id(): a test process makes many apps, and a collected route's id can come back as another's).
ATTRIBUTE = "_ductwork_json_types"

# (the parsed body FastAPI validates next, its strictly validated value), for this request.
# Holding the parsed body keeps it alive, so no other object can have its identity meanwhile.
_checked: ContextVar[tuple[Any, Any] | None] = ContextVar("ductwork_checked_body", default=None)


def check(route: Any, body: bytes, parsed: Any) -> None:
    """RequestValidationError (422, naming each field) when `body` holds a value of another
    JSON type than the route's body field declares; otherwise its value is what the body
    parameter gets for `parsed` (the body as FastAPI decoded it)."""
    adapter = _adapter(route)
    if adapter is None:
        return
    try:
        value = adapter.validate_json(body, strict=True)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    if _read_alike(body):
        _checked.set((parsed, value))


# The one value strict JSON validation takes that FastAPI's pass refuses: an integer too large
# for a float (309 digits or more), which becomes an infinity in a float field where Python's
# float() refuses it, as the embedded store does (a metric's value may be infinite, so the
# store cannot tell). A body with a run of 309 digits keeps both passes, as every body had; one
# translate and find over its bytes rule that out (half a millisecond for 5,000 events).
_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_TOO_LONG = b"0" * 309


def _read_alike(body: bytes) -> bool:
    """No number in `body` could read differently in the two passes."""
    return body.translate(_ZEROS).find(_TOO_LONG) < 0


class _Reused:
    """The annotation behind `Checked`: FastAPI's validation of the body hands back the strict
    value `check` found for this very object, and validates anything else itself."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_wrap_validator_function(_reused, handler(source))


def _reused(data: Any, validate: core_schema.ValidatorFunctionWrapHandler) -> Any:
    found = _checked.get()
    if found is not None and found[0] is data:
        _checked.set(None)  # once: the request's body is validated once
        return found[1]
    return validate(data)


T = TypeVar("T")
# A JSON body parameter: `events: Checked[list[MetricEvent]]` (the type's schema unchanged).
Checked = Annotated[T, _Reused()]


def _adapter(route: Any) -> TypeAdapter[Any] | None:
    if route is None:
        return None
    try:
        found: TypeAdapter[Any] | None = getattr(route, ATTRIBUTE)
    except AttributeError:
        field = getattr(route, "body_field", None)
        # A route with several body parameters has FastAPI's model of them as its field. The
        # annotation is the bare type: `Checked`'s marker is in the field's metadata.
        found = None if field is None else TypeAdapter(field.field_info.annotation)
        setattr(route, ATTRIBUTE, found)
    return found
