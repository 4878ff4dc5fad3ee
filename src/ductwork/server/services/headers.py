"""Security headers on every response: what a browser may run, frame, sniff and refer.

The UI runs no inline script and no `eval` (htmx's eval features are switched off in
`base.html`), so pages get a strict Content-Security-Policy: scripts, styles, fetches and
forms only from this origin, no plugins, no `<base>`, no framing. `style-src 'self'` holds
too: htmx's injected indicator style is switched off (its rules are in `app.css`) and our
scripts set styles through the CSSOM (`el.style.x = ...`), which CSP does not restrict.
Images may also be `data:` URLs (debug images recorded inline); an `<img>` never runs script.

The API's JSON answers get the same headers: harmless to a script client, and they keep a
browser from rendering or framing an API answer as a page. A route that sets its own
Content-Security-Policy (a download's `sandbox`) keeps it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# FastAPI's /api/docs page is Swagger UI from its CDN with one inline bootstrap script. It
# renders only this server's own OpenAPI schema, no stored value, so it gets its own policy.
DOCS_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "img-src 'self' data: https://fastapi.tiangolo.com",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
DOCS_PATHS = ("/api/docs", "/api/docs/oauth2-redirect")

COMMON = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # Full URLs (task ids, searches) stay on this server; other sites get nothing. Same-origin
    # referers remain, as the CSRF origin check's fallback.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    """Pure ASGI: adds the headers to the start of every HTTP response, leaving any it already has."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = (DOCS_POLICY if scope["path"] in DOCS_PATHS else PAGE_POLICY).encode()
        wanted = (*COMMON, (b"content-security-policy", policy))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers.extend((key, value) for key, value in wanted if key not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
