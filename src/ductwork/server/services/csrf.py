"""Cross-site request forgery: a browser's state-changing request must prove it came from our pages.

Two checks, both needed for a request that rides on the session cookie:

* **Origin**: the `Origin` header (else the `Referer`'s origin) must be this server's own
  origin. SameSite cookies do not separate two ports of one host (they are the same *site*), so
  a page served from `http://host:9000` could otherwise post to `http://host:8008` with the
  victim's cookie; the origin differs by port and is refused here.
* **Token**: `X-CSRF-Token` (htmx and `fetch`) or the `csrf_token` form field must equal a
  digest of the session token. The session cookie is HttpOnly, so another page cannot read
  it and cannot compute the digest; the server needs no store to check it, and every server
  process agrees on it. The digest is one-way, so a leaked token does not leak the session.

A request authenticated by `Authorization: Bearer <key>` is exempt: a page of another origin
cannot set that header without a CORS preflight, which this server never grants.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from html import escape
from urllib.parse import parse_qs, urlsplit

from starlette.types import Message, Receive, Scope, Send

TOKEN_FIELD = "csrf_token"
TOKEN_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The biggest urlencoded form body read to find the token field; our forms are far smaller,
# and a bigger body has to send the header instead.
MAX_FORM_BODY = 1 << 20
_DEFAULT_PORTS = {"http": 80, "https": 443}


def token_for(session_token: str) -> str:
    """The CSRF token of a session: a one-way digest of its (HttpOnly) token."""
    return hashlib.sha256(b"ductwork csrf v1\0" + session_token.encode()).hexdigest()


def token_matches(session_token: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(token_for(session_token).encode(), given.encode())


def own_origin(scope: Scope) -> str:
    """This server's origin as the browser sees it: the request's scheme and Host."""
    host = ""
    for key, value in scope.get("headers", []):
        if key == b"host":
            host = value.decode("latin-1")
            break
    if not host and scope.get("server"):
        name, port = scope["server"]
        host = f"{name}:{port}"
    return normalise(f"{scope.get('scheme', 'http')}://{host}")


def normalise(origin: str) -> str:
    """`scheme://host[:port]`, lower case, without the scheme's default port; "" if not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_problem(scope: Scope, headers: dict[str, str], *, required: bool) -> str | None:
    """Why this request's origin is not acceptable, or None when it is.

    `required`: a request that names no origin at all is refused too (browsers send `Origin`
    on every POST, PATCH and DELETE; our Referrer-Policy keeps same-origin referers). Without
    it (`ductwork ui`, where a script may post without a browser), only a foreign origin is.
    """
    claimed = headers.get("origin")
    source = "Origin"
    if claimed is None and headers.get("referer"):
        claimed, source = headers["referer"], "Referer"
    if claimed is None:
        if required:
            return (
                "this request names no origin (neither an Origin nor a Referer header), so it "
                "cannot be told apart from a forged one"
            )
        return None
    ours = own_origin(scope)
    theirs = normalise(claimed)
    if not theirs or theirs != ours:
        shown = claimed if len(claimed) <= 100 else claimed[:100] + "…"
        return f"this request comes from another origin ({source} {shown!r}, this server is {ours!r})"
    return None


async def form_token(scope: Scope, receive: Receive) -> tuple[str, Receive]:
    """The `csrf_token` field of an urlencoded form body, and a `receive` that replays the body
    for the application (which reads it again to parse the form)."""
    content_type = ""
    length = 0
    for key, value in scope.get("headers", []):
        if key == b"content-type":
            content_type = value.decode("latin-1").split(";")[0].strip().lower()
        elif key == b"content-length" and value.isdigit():
            length = int(value)
    if content_type != "application/x-www-form-urlencoded" or length > MAX_FORM_BODY:
        return "", receive
    chunks: list[bytes] = []
    size = 0
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BODY:
            break
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    token = ""
    if size <= MAX_FORM_BODY:
        values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(TOKEN_FIELD, [])
        token = values[0] if values else ""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return token, replay


async def refuse(scope: Scope, send: Send, reason: str) -> None:
    """403 with the reason: JSON for API calls and scripts, a short page for a browser."""
    message = f"Refused: {reason}. Nothing was changed."
    wants_page = not scope["path"].startswith("/api/") and any(
        key == b"accept" and b"text/html" in value for key, value in scope.get("headers", [])
    )
    if wants_page:
        await _send(send, 403, "text/html; charset=utf-8", _page(message).encode())
    else:
        body = json.dumps({"error": "Forbidden", "message": message}).encode()
        await _send(send, 403, "application/json", body)


def _page(message: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Refused · ductwork</title>'
        '<link rel="stylesheet" href="/static/css/app.css"></head><body><main class="page">'
        f"<h1>Refused</h1><p>{escape(message)}</p>"
        "<p>Reload the page you came from and try again; if this keeps happening, log in again.</p>"
        '<p><a href="/">Back to ductwork</a></p></main></body></html>'
    )


async def _send(send: Send, status: int, content_type: str, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
