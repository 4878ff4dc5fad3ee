"""Who is calling: API keys, login sessions, and the middleware that admits or refuses.

Every request except the public paths must carry `Authorization: Bearer <key>` or the
`ductwork_session` cookie; the middleware puts the caller on `request.state.user`. A refused
API call gets 401 JSON; a refused browser page request is redirected to `/login`.

A login session is an API key of its own (named "web session"), kept in an HttpOnly
cookie: hashed at rest like every key, checked by the same code, visible in `ductwork keys
list`, and ended by revoking it, which holds across any number of server processes.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

from ductwork.core.errors import DuctworkError

SESSION_COOKIE = "ductwork_session"
SESSION_KEY_NAME = "web session"
# Reachable without credentials: the health check, the login page and static assets.
PUBLIC_PATHS = ("/api/health", "/login")
PUBLIC_PREFIXES = ("/static/",)


@dataclass
class LocalUser:
    """The one user of `ductwork ui` (no auth): whoever runs it."""

    name: str
    id: str = "local"
    admin: bool = True
    created: float = 0.0


def local_user() -> LocalUser:
    try:
        return LocalUser(getpass.getuser())
    except (KeyError, OSError):
        return LocalUser("local")


def authenticate_password(store: Any, name: str, password: str) -> Any | None:
    """The user `name` if `password` is theirs, else None (unknown user or wrong password)."""
    if not name or not password:
        return None
    return store.verify_password(name, password)


def authenticate_key(store: Any, token: str) -> Any | None:
    """The user owning API key `token`, or None (malformed, unknown, wrong or revoked)."""
    if not token:
        return None
    return store.verify_api_key(token)


def new_session(store: Any, user_name: str) -> str:
    """A session token for `user_name` (the value of the `ductwork_session` cookie)."""
    created = store.create_api_key(user_name, name=SESSION_KEY_NAME)
    return str(created.token)


def end_session(store: Any, token: str) -> None:
    """Revoke a session token; an unknown or malformed token is already ended."""
    key_id = token.partition(".")[0]
    if not key_id:
        return
    try:
        store.revoke_api_key(key_id)
    except DuctworkError:
        pass


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class AuthMiddleware:
    """Pure ASGI middleware (no per-request task spawning): sets `request.state.user`."""

    def __init__(self, app: ASGIApp, *, store: Any, required: bool) -> None:
        self.app = app
        self.store = store
        self.required = required
        self._local = local_user()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self.required:
            await send({"type": "websocket.close", "code": 1008})  # no endpoint needs one
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if not self.required:
            state["user"] = self._local
            await self.app(scope, receive, send)
            return
        user = await self._identify(scope)
        state["user"] = user
        if user is None and not is_public(scope["path"]):
            await _refuse(scope, send)
            return
        await self.app(scope, receive, send)

    async def _identify(self, scope: Scope) -> Any | None:
        headers = _headers(scope)
        token = ""
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        if not token:
            token = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
        if not token:
            return None
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(authenticate_key, self.store, token)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip('"')
    return ""


async def _refuse(scope: Scope, send: Send) -> None:
    headers = _headers(scope)
    wants_page = "text/html" in headers.get("accept", "") and not scope["path"].startswith("/api/")
    if wants_page:
        target = scope["path"] + (
            ("?" + scope["query_string"].decode("latin-1")) if scope["query_string"] else ""
        )
        location = f"/login?next={quote(target, safe='')}"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", location.encode("latin-1"))],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return
    body = json.dumps(
        {
            "error": "Unauthorized",
            "message": "this server needs an API key (Authorization: Bearer <key>) or a login session",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="ductwork"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
