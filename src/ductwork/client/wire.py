"""Keep-alive HTTP/1.1 to one server, on the standard library.

Why not httpx: a remote step is a fresh process, and importing httpx costs ~70 ms there
(measured: `python -X importtime`), `http.client` ~16 ms. This module does the little the
HTTP transport needs: one persistent connection per thread, JSON and streamed bodies,
per-request timeouts, and one retry when a reused idle connection turns out to have been
closed by the server (the request was then never read, so repeating it is safe).
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit


class WireError(OSError):
    """The server could not be reached, or the connection broke mid-answer."""


class NotSent(WireError):
    """No connection could be made: the request never left this machine, so repeating it is
    always safe (the server is down or restarting)."""


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


# Errors meaning "the idle keep-alive connection was already closed by the server".
_STALE = (
    http.client.RemoteDisconnected,
    http.client.CannotSendRequest,
    http.client.BadStatusLine,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


class Wire:
    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a ductwork server URL looks like http://host:port, got {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.headers = {"Accept": "application/json", **headers}
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[http.client.HTTPConnection] = []

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Reply:
        target = self._target(path, params)
        extra = dict(headers or {})
        body: bytes | Iterable[bytes] | None = content
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":"), allow_nan=True).encode()
            extra["Content-Type"] = "application/json"
        replayable = body is None or isinstance(body, bytes)
        for attempt in (1, 2):
            try:
                connection, reused = self._connection(timeout)
            except OSError as exc:
                raise NotSent(f"{method} {target}: cannot connect: {exc}") from exc
            try:
                self._send(connection, method, target, body, extra)
                response = connection.getresponse()
                data = response.read()
            except _STALE as exc:
                self._drop(connection)
                if reused and replayable and attempt == 1:
                    continue  # the server had closed the idle connection: the request never ran
                raise WireError(f"{method} {target}: {exc}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop(connection)
                raise WireError(f"{method} {target}: {exc}") from exc
            if response.will_close:
                self._drop(connection)
            return Reply(response.status, data, {k.lower(): v for k, v in response.getheaders()})
        raise WireError(f"{method} {target}: the connection kept closing")  # pragma: no cover

    def stream(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Generator[Reply | bytes, None, None]:
        """First the reply head (a `Reply` with an empty body), then the body in chunks.

        On an error status the whole (small) body is read into the head instead."""
        target = self._target(path, params)
        try:
            connection, _ = self._connection(None)
        except OSError as exc:
            raise NotSent(f"{method} {target}: cannot connect: {exc}") from exc
        complete = False  # a connection with unread body bytes cannot carry the next request
        try:
            self._send(connection, method, target, None, headers or {})
            response = connection.getresponse()
            answered = {k.lower(): v for k, v in response.getheaders()}
            if response.status >= 400:
                body = response.read()
                complete = not response.will_close
                yield Reply(response.status, body, answered)
                return
            yield Reply(response.status, b"", answered)
            while chunk := response.read(1 << 20):
                yield chunk
            if response.length:  # read(n) ends quietly when the peer closes early: not a whole body
                raise http.client.IncompleteRead(b"", response.length)
            complete = not response.will_close
        except (OSError, http.client.HTTPException) as exc:
            raise WireError(f"{method} {target}: {exc}") from exc
        finally:
            if not complete:
                self._drop(connection)

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            connection.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _target(self, path: str, params: dict[str, Any] | None) -> str:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return self.prefix + path + (f"?{urlencode(query)}" if query else "")

    def _send(
        self,
        connection: http.client.HTTPConnection,
        method: str,
        target: str,
        body: bytes | Iterable[bytes] | None,
        extra: dict[str, str],
    ) -> None:
        headers = {**self.headers, **extra}
        chunked = body is not None and not isinstance(body, bytes)
        connection.request(method, target, body=body, headers=headers, encode_chunked=chunked)

    def _connection(self, timeout: float | None) -> tuple[http.client.HTTPConnection, bool]:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and connection.sock is not None and _closed_by_peer(connection.sock):
            # Found before sending: a request that fails after this point may have been
            # processed, so the caller can tell "never sent" from "sent, no answer".
            connection.close()
        reused = connection is not None and connection.sock is not None
        if connection is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            connection = cls(self.host, self.port, timeout=self.timeout)
            self._local.connection = connection
            with self._lock:
                self._open.append(connection)
        if connection.sock is None:
            try:
                connection.connect()
            except OSError:
                connection.close()  # leave it unconnected, so the next call tries again
                raise
        sock: socket.socket = connection.sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.timeout if timeout is None else timeout)
        return connection, reused

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether an idle keep-alive socket was closed by the server (a restart, an idle timeout):
    an idle HTTP/1.1 connection has nothing to read unless the peer hung up."""
    if hasattr(sock, "pending"):
        return False  # TLS: records such as session tickets may wait unread; the replay covers it
    try:
        poller = select.poll()  # not select(): it fails on descriptors above 1023
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))  # end of stream, or bytes no request asked for: unusable
    except (OSError, ValueError):
        return True
