"""The HTTP client rides out a server restart: a call made while the server is down waits for
it (within DUCTWORK_RETRY_WINDOW) and answers once it is back; past the window it fails with
a StorageError naming the server and the window. The server is a machine of its own, started
again on that machine (same home and port); the client is the test process."""

from __future__ import annotations

import threading
import time

import pytest
from fault_harness import kill_server, start_server

from ductwork.core.errors import StorageError
from machines import Server

pytestmark = pytest.mark.slow


def test_a_call_made_while_the_server_is_down_answers_once_it_is_back(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = server.backend()
    backend.ensure_queue("before")
    kill_server(server)
    restarted = threading.Thread(target=lambda: (time.sleep(1.0), start_server(server)))
    restarted.start()
    try:
        backend.ensure_queue("during")  # sent while nothing listens; answered after the restart
        assert {q.name for q in backend.list_queues()} >= {"before", "during"}
    finally:
        restarted.join()
    kill_server(server)
    monkeypatch.setenv("DUCTWORK_RETRY_WINDOW", "0.5")
    with pytest.raises(StorageError, match=f"{server.url}.*retried for 0.5 s"):
        backend.list_queues()
