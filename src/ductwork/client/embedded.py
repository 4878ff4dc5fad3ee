"""The embedded transport: the store itself, in this process (no server)."""

from __future__ import annotations

import threading

from ductwork.store import Store

_lock = threading.Lock()
_open: dict[str, Store] = {}


def open_embedded(url: str) -> Store:
    """The process's one `Store` for `url`, opened (and migrated) on first use.

    Thread-safe: the store pools connections, one per thread at a time. A store that was
    closed (e.g. by `ductwork.client.use`) is replaced by a fresh one.
    """
    store = _open.get(url)
    if store is not None and not store.closed:
        return store
    with _lock:
        store = _open.get(url)
        if store is None or store.closed:
            store = _open[url] = Store(url)
        return store
