"""The server's shared state: the store, the doorbells, the live feed and the watchdog.

Writes that others wait for go through the hub, which rings a doorbell after the commit:
`enqueue` rings `work` (as many long-poll claims on that queue wake as it added tasks),
and every write a live view shows pokes the live feed (`feed.py`), which reads what changed
once and pushes it to every open event stream. Changes made by *other* processes (an agent
on the embedded store, a second server, a local-mode controller) reach the feed too: by
`PRAGMA data_version` on SQLite, by LISTEN/NOTIFY on PostgreSQL (`store/notify.py`); a task
another process queued wakes one long-poll claim on its queue, nothing else wakes them.
The watchdog loop settles tasks whose worker stopped beating.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ductwork.artifacts.allowed import StorageRule
from ductwork.core import orphans
from ductwork.core.records import ConsoleLine, MetricEvent, NodeState, QueueEntry, TaskRecord
from ductwork.server.services import locations
from ductwork.server.services.doorbell import Doorbell
from ductwork.server.services.feed import Feed
from ductwork.server.services.writes import GroupWriter

if TYPE_CHECKING:  # the server imports the store (and SQLAlchemy) when it opens one
    from ductwork.store.store import Store

log = logging.getLogger("ductwork.server")

STORAGE_MARKER = ".ductwork-server"
WATCHDOG_EVERY_S = 2.0


@dataclass
class Hub:
    store: Store  # every Backend method, accounts
    artifacts_root: str
    auth: bool = True
    owns_store: bool = True  # close it on shutdown (not when the caller lent it)
    heartbeat_timeout: float = field(default_factory=orphans.heartbeat_timeout)
    work: Doorbell = field(default_factory=Doorbell)
    changes: Doorbell = field(default_factory=Doorbell)  # rung by this server's own writes
    closing: bool = False
    _watcher: asyncio.Task[None] | None = None
    _storage_token: str = ""
    # Object-storage prefixes an admin allows besides the artifact root (`--allow-storage`).
    allowed_storage: tuple[str, ...] = ()
    # The one rule for every stored location read or recorded (services/locations.py).
    storage: StorageRule = field(init=False)
    # What changed, pushed to the live event streams (and foreign enqueues to claims).
    feed: Feed = field(init=False)
    # Concurrent metric and console writes share a commit (services/writes.py).
    events: GroupWriter[MetricEvent] = field(init=False)
    console: GroupWriter[ConsoleLine] = field(init=False)

    def __post_init__(self) -> None:
        self.storage = locations.build_rule(self.store, self.artifacts_root, self.allowed_storage)
        self.feed = Feed(self.store, self.work)
        self.events = GroupWriter(self.store.add_events)
        self.console = GroupWriter(self._add_console)

    # -- writes others wait for ---------------------------------------------------------------

    def enqueue(self, task_id: str, queue: str, *, priority: int = 0) -> QueueEntry:
        self.feed.enqueuing([task_id])  # its claim is woken here, not again by the feed
        entry: QueueEntry = self.store.enqueue(task_id, queue, priority=priority)
        self.work.ring(1, queue)  # one task: one waiting claim on its queue wakes
        self.touched()
        return entry

    def enqueue_many(self, task_ids: Sequence[str], queue: str, *, priority: int = 0) -> list[QueueEntry]:
        if isinstance(task_ids, list) and all(isinstance(t, str) for t in task_ids):
            self.feed.enqueuing(task_ids)
        entries: list[QueueEntry] = self.store.enqueue_many(task_ids, queue, priority=priority)
        self.work.ring(len(entries), queue)  # as many waiting claims as there are new tasks
        self.touched()
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
        self.touched()
        if status == "queued":
            self.work.ring()
        return task

    def put_nodes(self, nodes: Sequence[NodeState]) -> None:
        self.store.put_nodes(nodes)
        self.touched()

    def _add_console(self, lines: Sequence[ConsoleLine]) -> None:
        # A console panel reads on when told: at once, where PostgreSQL's NOTIFY would not tell
        # (a write that only bumps `updated`, migration 0007). Metrics wait for the feed's probe.
        self.store.add_console(lines)
        self.feed.poke()

    def touched(self) -> None:
        """Something a live view shows changed (a task created, edited, claimed): the live
        feed reads it now, not on a timer (thread-safe)."""
        self.feed.poke()
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
        self.feed.start()
        self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="ductwork-watchdog")

    def begin_closing(self) -> None:
        """The server is going away: long-polls (claims, live streams) answer now instead of
        being cancelled when the graceful shutdown's time is up (a 500)."""
        self.closing = True
        self.changes.ring()
        self.feed.wake_all()  # live streams see `closing` and end
        self.work.ring()

    async def stop(self) -> None:
        self.begin_closing()
        await asyncio.to_thread(self.feed.stop)
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self.owns_store:
            await asyncio.to_thread(self.store.close)

    async def _watch(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self._reap)
            except Exception:  # the watchdog must outlive a database hiccup
                log.exception("ductwork server: watchdog failed; retrying")
            await asyncio.sleep(WATCHDOG_EVERY_S)

    def _reap(self) -> None:
        for task_id in orphans.reap(self.store, timeout=self.heartbeat_timeout, scan_tasks=True):
            log.warning("ductwork server: task %s lost its agent; settled it", task_id)
            self.touched()
            self.work.ring()  # settled as a retry, it may be queued again
