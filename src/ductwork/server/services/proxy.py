"""Behind a reverse proxy: believe X-Forwarded-* only from the proxies the admin named.

`$DUCTWORK_TRUSTED_PROXIES` lists their addresses or networks. A request whose peer is one of
them gets its client address from `X-Forwarded-For` (the nearest address that is not itself a
trusted proxy), its scheme from `X-Forwarded-Proto` and its host from `X-Forwarded-Host`. Every
other request keeps what the socket says: a client that sends these headers itself cannot
pick its address (dodging the per-address login limit) or its origin (the CSRF check).

`ductwork server` starts uvicorn with its own proxy-header handling off, so this is the only
place forwarded headers are read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Sequence[str]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"$DUCTWORK_TRUSTED_PROXIES: {entry!r} is not an address or network") from exc
    return tuple(networks)


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


class TrustedProxyMiddleware:
    """Pure ASGI: rewrites client, scheme and Host from a trusted proxy's forwarded headers."""

    def __init__(self, app: ASGIApp, *, proxies: Sequence[str]) -> None:
        self.app = app
        self.networks = parse_networks(proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.networks:
            peer = client_address(scope)
            if _trusted(peer, self.networks):
                scope = self._forwarded(scope)
        await self.app(scope, receive, send)

    def _forwarded(self, scope: Scope) -> Scope:
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        scope = dict(scope)
        hops = [hop.strip() for hop in headers.get(b"x-forwarded-for", "").split(",") if hop.strip()]
        # Walk back from the nearest hop: the first address no trusted proxy vouches for is the client.
        for hop in reversed(hops):
            if not _trusted(hop, self.networks):
                scope["client"] = (hop, 0)
                break
        else:
            if hops:
                scope["client"] = (hops[0], 0)
        proto = headers.get(b"x-forwarded-proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
        host = headers.get(b"x-forwarded-host", "").split(",")[0].strip()
        if host:
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"] + [
                (b"host", host.encode("latin-1"))
            ]
        return scope
