"""Serve an app on a socket we bound ourselves, so nothing is announced before the port is ours.

`ductwork server` prints the first admin's credentials and `ductwork ui` its address: both
only once `listen()` has the port. A busy port is then a one-line error and exit code 2,
before any secret or address was shown (uvicorn binding the port itself would fail only
after they had been printed).

    listener = listen("127.0.0.1", 8008)      # click.ClickException when the port is taken
    ...create the first admin, print the start line...
    serve(app, listener)
"""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from starlette.types import ASGIApp

BACKLOG = 2048  # what uvicorn uses for the sockets it binds itself


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port`; a ClickException (one line, exit 1) if it can't be."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    listener = socket.socket(family, kind, proto)
    try:
        # As uvicorn does: a restarted server may bind while old connections sit in TIME_WAIT
        # (on Linux this never lets two servers listen on one port).
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError as exc:
        listener.close()
        raise PortError(host, port, exc) from None
    return listener


class PortError(click.ClickException):
    """A port we cannot listen on: a sentence naming it and how to pick another; exit code 2
    (a usage error: the command line asked for it), before anything else was printed."""

    exit_code = 2

    def __init__(self, host: str, port: int, exc: OSError) -> None:
        if exc.errno == errno.EADDRINUSE:
            why = f"port {port} on {host} is already in use by another program"
        else:
            why = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        free = _free_near(host, port)
        example = f" (for example --port {free}, free right now)" if free else ""
        super().__init__(f"{why}; choose another port with --port{example}")


def _free_near(host: str, port: int) -> int | None:
    """The first of the next ten ports that `host` can bind now, for the message."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in range(port + 1, min(port + 11, 65536)):
        try:
            with socket.create_server((host, candidate), family=family):
                return candidate
        except OSError:
            continue
    return None


def address(listener: socket.socket) -> str:
    """`http://host:port` of a listening socket (the real port when 0 was asked for)."""
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(app: ASGIApp, listener: socket.socket) -> None:
    """Run `app` with uvicorn on `listener` until interrupted."""
    import uvicorn

    # proxy_headers off: forwarded headers are believed only from $DUCTWORK_TRUSTED_PROXIES, by
    # the app itself (uvicorn would trust any local process's X-Forwarded-For).
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3, proxy_headers=False)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Before the graceful wait: waiting long-polls answer now (a claim's 503 tells its
            # agent to retry quietly) rather than being cancelled at its end (a 500).
            hub = getattr(getattr(app, "state", None), "hub", None)
            if hub is not None:
                hub.begin_closing()
            await super().shutdown(sockets)

    try:
        Server(config).run(sockets=[listener])
    finally:
        listener.close()
