"""One call to a ductwork server: sent on a keep-alive connection (`wire`), retried while the
server is away (a restart) for the retry window, its error answer raised as the exception the
embedded store would raise. `HttpBackend` (http.py) is these calls, one a `Backend` method.
"""

from __future__ import annotations

import json as _json
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from ductwork.client.wire import NotSent, Reply, Wire, WireError
from ductwork.core import errors, settings
from ductwork.core.records import (
    from_dict,
)

R = TypeVar("R")

# Exceptions a server may name in an error answer; anything else becomes a DuctworkError.
ERRORS: dict[str, type[errors.DuctworkError]] = {
    cls.__name__: cls
    for cls in (
        errors.NotFound,
        errors.StatusError,
        errors.ValidationError,
        errors.StorageError,
        errors.Conflict,
        errors.Forbidden,
        errors.DuctworkError,
    )
}


# Methods that set a value: repeating one after a lost answer leaves the same state.
REPEATABLE = frozenset({"GET", "PUT", "PATCH", "DELETE"})
# A gateway's "the server behind me is away" (a restart behind a proxy or load balancer).
BOUNCED = frozenset({502, 503, 504})
MAX_DELAY_S = 2.0  # a restarted server is found again within this of coming back
MAX_TIMEOUT_S = 600.0


class AuthError(errors.DuctworkError, PermissionError):
    """The server refused the API key (missing, wrong or revoked)."""


class Retry:
    """Back-off for one call while the server is unreachable, up to `settings.retry_window()`.

    The first wait of an outage is said once on stderr (a step's console shows it), so a run
    that seems to pause says why; recovering is said too."""

    _lock = threading.Lock()
    _outage: str | None = None  # the server this process is waiting for, if any

    def __init__(self, url: str) -> None:
        self.url = url
        self.window = settings.retry_window()
        self.deadline: float | None = None
        self.delay = 0.05
        self.waited = False

    def wait(self, cause: object) -> None:
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + self.window
        if now >= self.deadline:
            raise errors.StorageError(
                f"cannot reach ductwork server at {self.url} (DUCTWORK_API_URL): {cause}"
                f" (retried for {self.window:g} s, DUCTWORK_RETRY_WINDOW)"
            )
        with Retry._lock:
            first, Retry._outage = Retry._outage is None, self.url
        if first:
            say(f"ductwork: server {self.url} unreachable ({cause}); retrying for up to {self.window:g} s")
        self.waited = True
        time.sleep(min(self.delay, self.deadline - now))
        self.delay = min(self.delay * 2, MAX_DELAY_S)

    def done(self) -> None:
        if self.waited:
            with Retry._lock:
                was, Retry._outage = Retry._outage, None
            if was is not None:
                say(f"ductwork: server {self.url} reachable again")


def say(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # no stderr left (interpreter shutting down): the retry goes on regardless


def quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def record(cls: type[R], data: Any) -> R:
    return from_dict(cls, data)


def records(cls: type[R], data: Any) -> list[R]:
    return [from_dict(cls, item) for item in data]


class Caller:
    """Calls to the server at `url`, authenticated by `api_key`."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            self._wire = Wire(self.url, headers, timeout)
        except ValueError as exc:
            raise errors.ValidationError(str(exc)) from exc

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        repeat: bool | None = None,
        settle: Callable[[errors.DuctworkError], Any] | None = None,
    ) -> Any:
        """One API call, retried while the server is away (a restart) for the retry window.

        A request that never left this machine (no connection) or that a gateway bounced (502,
        503) is always sent again. One that was sent but got no answer may have taken effect:
        it is sent again only when `repeat` (default: GET, PUT, PATCH, DELETE, which set rather
        than add). `settle` turns the error answer of such a repeat (the first attempt did it:
        "already exists", "already completed") into the call's result."""
        if json is not None:
            check_json(json, f"the request body of {method} {path}")
        repeatable = method in REPEATABLE if repeat is None else repeat
        retry = Retry(self.url)
        ambiguous = False  # an earlier attempt may have done the work
        while True:
            try:
                reply = self._wire.request(method, path, params=params, json_body=json, timeout=timeout)
            except WireError as exc:
                if not isinstance(exc, NotSent) and not repeatable:
                    raise errors.StorageError(
                        f"cannot reach ductwork server at {self.url}: {exc} (not repeated: the server"
                        " may have done it; check before doing it again)"
                    ) from exc
                ambiguous = ambiguous or not isinstance(exc, NotSent)
                if isinstance(exc.__cause__, TimeoutError):
                    # Alive but slow (a queue of writers after a restart): the repeat waits
                    # longer, so it does not pile more of the same work on a busy server.
                    timeout = min(2 * (timeout or self._wire.timeout), MAX_TIMEOUT_S)
                retry.wait(exc)
                continue
            if reply.status in BOUNCED and (repeatable or reply.status != 504):
                ambiguous = ambiguous or reply.status == 504
                retry.wait(f"HTTP {reply.status}")
                continue
            retry.done()
            if reply.status >= 400:
                error = error_from(reply, f"{method} {path}")
                if ambiguous and settle is not None and not isinstance(error, AuthError):
                    return settle(error)
                raise error
            if reply.status == 204 or not reply.body:
                return None
            return reply.json()


def bounced(reply: Reply) -> bool:
    """A gateway's "the server behind me is away", not the server's own error answer (a 503
    naming a StorageError: storage it cannot reach, which waiting here does not fix)."""
    if reply.status not in BOUNCED:
        return False
    try:
        return "error" not in reply.json()
    except (ValueError, AttributeError, TypeError):
        return True


def conflict_is_done(error: errors.DuctworkError) -> Any:
    """For a repeated call whose first attempt already did it ("already exists")."""
    if isinstance(error, errors.Conflict):
        return None
    raise error


def check_json(value: Any, what: str) -> None:
    """Raise ValidationError (as the store would) for a value JSON cannot carry."""
    try:
        _json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise errors.ValidationError(
            f"{what} cannot be stored (store a str, number, bool, None, list or dict): {exc}"
        ) from exc


def error_from(reply: Reply, what: str) -> errors.DuctworkError:
    """The exception an error answer stands for."""
    try:
        body = reply.json()
        name, message = str(body.get("error", "")), str(body.get("message", ""))
    except (ValueError, AttributeError):
        name, message = "", reply.text[:500]
    if reply.status == 403 and name == "Forbidden":
        # A known caller refused for a role or owner reason: the server's sentence says why.
        return errors.Forbidden(message or f"forbidden: {what}")
    if reply.status in (401, 403):
        return AuthError(f"{message or f'the server refused the API key ({reply.status})'}: {_key_hint()}")
    cls = ERRORS.get(name)
    if cls is None:
        cls = {404: errors.NotFound, 409: errors.Conflict, 422: errors.ValidationError}.get(
            reply.status, errors.DuctworkError
        )
    return cls(message or f"HTTP {reply.status} from {what}")


def _key_hint() -> str:
    """Which variables the key and the server come from, and where a key comes from."""
    given = "was refused" if settings.api_key() else "is not set"
    return (
        f"DUCTWORK_API_KEY {given} for the server at DUCTWORK_API_URL={settings.api_url() or '(not set)'}; "
        "an admin creates a key with `ductwork keys create --user NAME` on the server's machine "
        "(its first start printed one for admin)"
    )
