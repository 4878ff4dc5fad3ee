"""The server's shared state: the store, the doorbells, the change watcher and the watchdog.

Writes that others wait for go through the hub, which rings a doorbell after the commit:
`enqueue` rings `work` (as many long-poll claims on that queue wake as it added tasks),
status and node changes ring `changes` (live event streams wake at once). Changes made by
*other* processes (an agent on the embedded store, a second server, a local-mode controller)
are noticed by one watcher loop per server that asks the store's change cursor every
`WATCH_TICK_S`: one cheap indexed query, however many clients listen. The same loop runs the
dead-worker watchdog.

Why a cursor poll for live events and not PostgreSQL LISTEN/NOTIFY: it works the same on
SQLite and PostgreSQL, needs no writer to cooperate (status changes do not NOTIFY), and its
cost is one indexed range scan per tick per server, independent of the number of listeners.
Enqueues do NOTIFY on PostgreSQL, so there the server also LISTENs and wakes long-poll claims
at once for work enqueued by other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ductwork.artifacts.allowed import StorageRule
from ductwork.core import orphans
from ductwork.core.display import mask_secrets
from ductwork.core.records import NodeState, QueueEntry, TaskRecord
from ductwork.server.services import locations
from ductwork.server.services.doorbell import Doorbell

if TYPE_CHECKING:  # the server imports the store (and SQLAlchemy) when it opens one
    from ductwork.store.store import Store

log = logging.getLogger("ductwork.server")

WATCH_TICK_S = 0.2
STORAGE_MARKER = ".ductwork-server"
WATCHDOG_EVERY_S = 2.0


@dataclass
class Hub:
    store: Store  # every Backend method, accounts, changes_since
    artifacts_root: str
    auth: bool = True
    owns_store: bool = True  # close it on shutdown (not when the caller lent it)
    heartbeat_timeout: float = field(default_factory=orphans.heartbeat_timeout)
    work: Doorbell = field(default_factory=Doorbell)
    changes: Doorbell = field(default_factory=Doorbell)
    cursor: float | None = None
    closing: bool = False
    _watcher: asyncio.Task[None] | None = None
    _storage_token: str = ""
    _seen: dict[tuple[str, str], float] = field(default_factory=dict)
    _listener: threading.Thread | None = None
    # Object-storage prefixes an admin allows besides the artifact root (`--allow-storage`).
    allowed_storage: tuple[str, ...] = ()
    # The one rule for every stored location read or recorded (services/locations.py).
    storage: StorageRule = field(init=False)

    def __post_init__(self) -> None:
        self.storage = locations.build_rule(self.store, self.artifacts_root, self.allowed_storage)

    # -- writes others wait for ---------------------------------------------------------------

    def enqueue(self, task_id: str, queue: str, *, priority: int = 0) -> QueueEntry:
        entry: QueueEntry = self.store.enqueue(task_id, queue, priority=priority)
        self.work.ring(1, queue)  # one task: one waiting claim on its queue wakes
        self.changes.ring()
        return entry

    def enqueue_many(self, task_ids: Sequence[str], queue: str, *, priority: int = 0) -> list[QueueEntry]:
        entries: list[QueueEntry] = self.store.enqueue_many(task_ids, queue, priority=priority)
        self.work.ring(len(entries), queue)  # as many waiting claims as there are new tasks
        self.changes.ring()
        return entries

    def set_status(
        self,
        task_id: str,
        status: str,
        *,
        message: str = "",
        reason: str = "",
        force: bool = False,
        expect: Sequence[str] | None = None,
    ) -> TaskRecord:
        task = self.store.set_status(
            task_id, status, message=message, reason=reason, force=force, expect=expect
        )
        self.changes.ring()
        if status == "queued":
            self.work.ring()
        return task

    def put_nodes(self, nodes: Sequence[NodeState]) -> None:
        self.store.put_nodes(nodes)
        self.changes.ring()

    def touched(self) -> None:
        """Something a live view shows changed (a task created, edited, claimed)."""
        self.changes.ring()

    # -- the watcher loop ---------------------------------------------------------------------

    def storage_token(self) -> str:
        """A random token the server writes into its local artifact root on first use: a client
        that reads the same token there sees the same folder (same host or shared mount)."""
        if not self._storage_token:
            from ductwork.artifacts.locations import is_remote, local_path

            token = secrets.token_hex(16)
            if not is_remote(self.artifacts_root):
                root = Path(local_path(self.artifacts_root))
                try:
                    root.mkdir(parents=True, exist_ok=True)
                    marker = root / STORAGE_MARKER
                    temporary = root / f".{STORAGE_MARKER}.{token}"
                    temporary.write_text(token, encoding="utf-8")
                    temporary.replace(marker)
                except OSError as exc:
                    log.warning("ductwork server: cannot write %s: %s", root / STORAGE_MARKER, exc)
            self._storage_token = token
        return self._storage_token

    def start(self) -> None:
        self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="ductwork-watch")
        if getattr(self.store, "dialect", "") == "postgresql":
            # Enqueues by other processes (agents on the store, other servers) wake long polls
            # at once through NOTIFY, not on the watcher's next tick.
            self._listener = threading.Thread(target=self._listen, name="ductwork-listen", daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        from ductwork.store.queues import NOTIFY_CHANNEL

        url = str(self.store.url)
        scheme, sep, rest = url.partition("://")
        while not self.closing:
            try:
                import psycopg

                with psycopg.connect("postgresql" + sep + rest, autocommit=True) as connection:
                    connection.execute(f'LISTEN "{NOTIFY_CHANNEL}"')
                    while not self.closing:
                        for _ in connection.notifies(timeout=1.0, stop_after=1):
                            self.work.ring()
            except Exception as exc:  # lost connection or old psycopg: the watcher tick still works
                log.warning(
                    "ductwork server: LISTEN %s failed (%s); the watcher tick covers it",
                    scheme,
                    mask_secrets(exc),  # a connection error may quote the store's URL
                )
                if self.closing:
                    return
                time.sleep(5.0)

    async def stop(self) -> None:
        self.closing = True
        self.changes.ring()  # live streams see `closing` and end
        self.work.ring()
        if self._listener is not None:
            await asyncio.to_thread(self._listener.join, 3.0)
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self.owns_store:
            await asyncio.to_thread(self.store.close)

    async def _watch(self) -> None:
        next_watchdog = 0.0
        while True:
            try:
                await asyncio.to_thread(self._poll_changes)
                if time.monotonic() >= next_watchdog:
                    next_watchdog = time.monotonic() + WATCHDOG_EVERY_S
                    await asyncio.to_thread(self._reap)
            except Exception:  # the watcher must outlive a database hiccup
                log.exception("ductwork server: change watcher failed; retrying")
            await asyncio.sleep(WATCH_TICK_S)

    def _poll_changes(self) -> None:
        found = self.store.changes_since(self.cursor)
        first = self.cursor is None
        self.cursor = found.cursor
        # On PostgreSQL the cursor trails the clock, so a change is reported for a couple of
        # ticks; ring only for (id, updated) pairs not seen on the previous tick.
        seen = {("t", k): v for k, v in found.tasks.items()} | {("r", k): v for k, v in found.runs.items()}
        fresh = any(self._seen.get(key) != stamp for key, stamp in seen.items())
        self._seen = seen
        if not first and fresh:
            self.changes.ring()
            self.work.ring()  # a task may have been enqueued by another process

    def _reap(self) -> None:
        for task_id in orphans.reap(self.store, timeout=self.heartbeat_timeout, scan_tasks=True):
            log.warning("ductwork server: task %s lost its agent; settled it", task_id)
            self.changes.ring()
            self.work.ring()
