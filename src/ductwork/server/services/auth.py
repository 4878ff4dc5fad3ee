"""Who is calling: API keys, login sessions, and the middleware that admits or refuses.

Every request except the public paths must carry `Authorization: Bearer <key>` or the
`ductwork_session` cookie; the middleware puts the caller on `request.state.user`. A refused
API call gets 401 JSON; a refused browser page request is redirected to `/login`.

A login session is an API key of its own (kind "session", named "web session"), kept in an
HttpOnly, SameSite=Strict cookie: hashed at rest like every key, checked by the same code,
visible in `ductwork keys list`, and ended by revoking it, which holds across any number of
server processes. It also ends when unused for `$DUCTWORK_SESSION_IDLE` and at the latest
`$DUCTWORK_SESSION_MAX` after the login. Logging out ends only the session the cookie proves.

A state-changing request that rides on the cookie must also pass the CSRF checks
(`services.csrf`); one with an API key in its Authorization header is exempt.

Wrong passwords are counted per user name and per client address in the store (so every server
process sees them); past a limit each further try waits, doubling. Wrong secrets of real API
keys are counted per address too, and a waiting address pays no scrypt for an unknown token.
"""

from __future__ import annotations

import getpass
import json
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from ductwork.core import settings
from ductwork.server.services import csrf
from ductwork.server.services.proxy import client_address

if TYPE_CHECKING:
    from ductwork.store.accounts import TokenCheck, User
    from ductwork.store.store import Store

SESSION_COOKIE = "ductwork_session"
SESSION_KEY_NAME = "web session"
# Reachable without credentials: the health check, the login page and static assets.
PUBLIC_PATHS = ("/api/health", "/login")
PUBLIC_PREFIXES = ("/static/",)
# Longer passwords are refused unhashed: scrypt's cost grows with the input, and no account
# can have one (`set_password` callers refuse them too).
MAX_PASSWORD = 1024
MIN_PASSWORD = 8


class TooManyAttempts(Exception):
    """Too many wrong passwords or keys: try again after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"too many failed attempts; try again in {self.retry_after} s")


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


def authenticate_password(store: Store, name: str, password: str, address: str = "") -> User | None:
    """The user `name` if `password` is theirs, else None (unknown user or wrong password).

    Raises `TooManyAttempts` while the user name or the address must wait. Known and unknown
    names cost the same work, are counted alike and answer alike.
    """
    if not name or not password:
        return None
    subjects = [f"user:{name}", f"addr:{address}"]
    wait = store.login_wait(subjects)
    if wait > 0:
        raise TooManyAttempts(wait)
    user = store.verify_password(name, password) if len(password) <= MAX_PASSWORD else None
    if user is None:
        store.record_failure(
            [(subjects[0], settings.login_user_attempts()), (subjects[1], settings.login_addr_attempts())],
            backoff=settings.login_backoff(),
            longest=settings.login_backoff_max(),
        )
        return None
    store.clear_failures(subjects)
    return user


def authenticate_key(store: Store, token: str, address: str = "") -> User | None:
    """The user owning API key `token`, or None (malformed, unknown, wrong, revoked or expired)."""
    checked = check_token(store, token, address)
    return checked.user if checked is not None else None


def check_token(store: Store, token: str, address: str = "") -> TokenCheck | None:
    """What `token` proves (`TokenCheck`), or None for no token. Raises `TooManyAttempts` when
    `address` guessed too many key secrets and `token` would need a fresh scrypt check."""
    if not token:
        return None
    subject = f"key:{address}"

    def refuse_if_waiting() -> None:
        wait = store.login_wait([subject])
        if wait > 0:
            raise TooManyAttempts(wait)

    checked = store.check_token(token, before_scrypt=refuse_if_waiting)
    if checked.reason == "wrong":
        store.record_failure(
            [(subject, settings.key_addr_attempts())],
            backoff=settings.login_backoff(),
            longest=settings.login_backoff_max(),
        )
    return checked


def new_session(store: Store, user_name: str) -> str:
    """A session token for `user_name` (the value of the `ductwork_session` cookie)."""
    expires = time.time() + settings.session_max()
    created = store.create_session(user_name, name=SESSION_KEY_NAME, expires=expires)
    return str(created.token)


def end_session(store: Store, token: str) -> bool:
    """End the session `token` proves (all of it verified, and of kind "session"); a forged,
    foreign or API-key token ends nothing (False)."""
    if not token:
        return False
    return bool(store.end_session(token))


def end_all_sessions(store: Store, user_name: str) -> int:
    """End every web session of `user_name` (log out everywhere); their API keys stay."""
    return int(store.end_user_sessions(user_name))


def change_password(store: Store, user_name: str, password: str) -> int:
    """Set a new password; every session of the user ends (how many did)."""
    return int(store.set_password(user_name, password))


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class AuthMiddleware:
    """Pure ASGI middleware (no per-request task spawning): sets `request.state.user`, and refuses
    state-changing browser requests that fail the CSRF checks before the app sees them."""

    def __init__(self, app: ASGIApp, *, store: Store, required: bool) -> None:
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
        unsafe = scope["method"] not in csrf.SAFE_METHODS
        if not self.required:
            state["user"] = self._local
            # `ductwork ui` has no login, so any page the user visits could post to it: a
            # browser's request from another origin is refused; a script's (no origin) is not.
            problem = csrf.origin_problem(scope, _headers(scope), required=False) if unsafe else None
            if problem:
                await csrf.refuse(scope, send, problem)
                return
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        try:
            user, via, token = await self._identify(scope, headers)
        except TooManyAttempts as exc:
            await _too_many(scope, send, exc)
            return
        state["user"] = user
        if user is None and not is_public(scope["path"]):
            await _refuse(scope, send)
            return
        if via == "session":
            state["csrf_token"] = csrf.token_for(token)
        if unsafe and via != "key":
            # A cookie session, or no credentials at all (the login form: login CSRF would sign
            # the victim in as the attacker).
            problem = csrf.origin_problem(scope, headers, required=True)
            # Logging in uses no authority of the session the cookie may hold (a second tab's
            # login form has no token): the origin check is its whole defence.
            if problem is None and via == "session" and not is_public(scope["path"]):
                given = headers.get(csrf.TOKEN_HEADER, "")
                if not given:
                    given, receive = await csrf.form_token(scope, receive)
                if not given:
                    problem = (
                        "this request carries no CSRF token (the X-CSRF-Token header or the "
                        "csrf_token form field of the page it came from)"
                    )
                elif not csrf.token_matches(token, given):
                    problem = "this request's CSRF token does not belong to your session"
            if problem:
                await csrf.refuse(scope, send, problem)
                return
        await self.app(scope, receive, send)

    async def _identify(self, scope: Scope, headers: dict[str, str]) -> tuple[User | None, str, str]:
        """(user, how: "key" | "session" | "", token). A cookie only ever admits a session: an API
        key planted in the cookie (by a sibling site) would otherwise sign the victim in as its owner."""
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            token, via = authorization[7:].strip(), "key"
        else:
            token, via = _cookie(headers.get("cookie", ""), SESSION_COOKIE), "session"
        if not token:
            return None, "", ""
        checked = await run_in_threadpool(check_token, self.store, token, client_address(scope))
        if checked is None or checked.user is None:
            return None, "", ""
        if via == "session" and checked.kind != "session":
            return None, "", ""
        return checked.user, via, token


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


async def _too_many(scope: Scope, send: Send, exc: TooManyAttempts) -> None:
    message = f"too many failed attempts from this address; try again in {exc.retry_after} s"
    body = json.dumps({"error": "TooManyRequests", "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", str(exc.retry_after).encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
