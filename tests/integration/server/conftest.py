"""A live `ductwork server` on a free loopback port (uvicorn in a thread), and backends.

* `live_server`: the app over the test's store (`store` fixture: SQLite and PostgreSQL),
  auth on, with user `alice` and her API key.
* `backend`: the same store reached two ways, embedded (`Store`) and over HTTP
  (`HttpBackend` against `live_server`); contract tests run on both.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    key: str
    app: Any
    store: Any
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)


def start_server(
    store: Any,
    *,
    auth: bool = True,
    key: str = "",
    artifacts_uri: str | None = None,
    port: int | None = None,
    allowed_storage: tuple[str, ...] = ("s3://bucket/",),
) -> LiveServer:
    """The contract tests record models and artifacts at `s3://bucket/...` (never read), so
    that prefix is allowed by default; everything else outside the root is refused."""
    import uvicorn

    from ductwork.server.app import create_app

    app = create_app(store=store, auth=auth, artifacts_uri=artifacts_uri, allowed_storage=allowed_storage)
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    return LiveServer(f"http://127.0.0.1:{port}", key, app, store, server, thread)


@pytest.fixture
def live_server(store: Any, tmp_path: Any) -> Iterator[LiveServer]:
    store.create_user("alice", password="wonderland", admin=True)
    key = store.create_api_key("alice").token
    server = start_server(store, key=key, artifacts_uri=str(tmp_path / "server-artifacts"))
    yield server
    server.stop()


@pytest.fixture(params=["embedded", "http"])
def backend(request: pytest.FixtureRequest, store: Any) -> Iterator[Any]:
    """The Backend under test: the store itself, or HttpBackend over a live server on it."""
    if request.param == "embedded":
        yield store
        return
    from ductwork.client.http import HttpBackend

    server = request.getfixturevalue("live_server")
    http = HttpBackend(server.url, server.key)
    yield http
    http.close()
