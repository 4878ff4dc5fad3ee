"""The backend this process talks to: embedded store, HTTP server, or a local-mode pipe."""

from __future__ import annotations

import threading
from typing import cast

from ductwork.client.contract import Backend
from ductwork.core import settings

_lock = threading.Lock()
_backend: Backend | None = None


def backend() -> Backend:
    """The process-wide backend, chosen once from the environment.

    `DUCTWORK_PIPE` (a local-mode step) wins over `DUCTWORK_API_URL` (a server), which wins
    over the embedded store at `DUCTWORK_DB_URL` / `$DUCTWORK_HOME`.
    """
    global _backend
    if _backend is None:
        with _lock:
            if _backend is None:
                _backend = _connect()
    return _backend


def _connect() -> Backend:
    pipe, url = settings.pipe_address(), settings.api_url()
    if pipe:
        from ductwork.client.pipe import PipeBackend

        return cast(Backend, PipeBackend(pipe))
    if url:
        from ductwork.client.http import HttpBackend

        return HttpBackend(url, settings.api_key())
    from ductwork.client.embedded import open_embedded

    return open_embedded(settings.db_url())


def use(new: Backend | None) -> None:
    """Replace the process-wide backend (tests, a controller serving its steps); None forgets it."""
    global _backend
    with _lock:
        old, _backend = _backend, new
    if old is not None and old is not new:
        old.close()
