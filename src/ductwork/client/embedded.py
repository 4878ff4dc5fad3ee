"""The embedded transport: the store itself, in this process (no server)."""

from __future__ import annotations

import os
import threading

from ductwork.store import Store

_lock = threading.Lock()
_open: dict[str, Store] = {}


def _new_lock_in_child() -> None:
    # A fork while another thread held the lock would leave the child's copy locked forever.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)


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
