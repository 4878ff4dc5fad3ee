"""What every endpoint needs from the request: the hub and the calling user."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from starlette.responses import Response

from ductwork.core.errors import ValidationError
from ductwork.core.records import to_dict
from ductwork.server.services import permissions
from ductwork.server.services.hub import Hub


async def hub(request: Request) -> Hub:
    """Async on purpose: FastAPI runs a plain `def` dependency in the thread pool, a thread hop
    per request for an attribute read (and a wait for a free thread under load)."""
    found: Hub = request.app.state.hub
    return found


def user_name(request: Request) -> str:
    user = getattr(request.state, "user", None)
    return str(getattr(user, "name", "") or "")


def user(request: Request) -> permissions.User:
    return getattr(request.state, "user", None)


class Json(Response):
    """A JSON answer rendered with the stdlib, compact (records are JSON types already)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), allow_nan=True).encode()


def record(value: Any) -> Json:
    return Json(None if value is None else to_dict(value))


def records(values: Sequence[Any]) -> Json:
    return Json([to_dict(v) for v in values])


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ValidationError(message)
