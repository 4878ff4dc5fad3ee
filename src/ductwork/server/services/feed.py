"""The server's live feed: one thread hears that the store changed and hands each open event
stream the rows that changed. Nothing polls a query on a timer.

What wakes it (`store/notify.py`):

* this server's own writes (`poke()`, called by the hub after each commit): at once;
* on SQLite, any other writer of the same file (the CLI, an embedded agent, a local-mode
  controller): `PRAGMA data_version` on the feed's own connection, checked every `TICK_S`
  (microseconds each; no query runs unless the number moved);
* on PostgreSQL, `LISTEN`: the triggers of migrations 0003 and 0007 NOTIFY for every
  transaction that writes nodes, creates or deletes tasks or sets a task field a live view
  shows, whoever wrote it; enqueues NOTIFY too. A write that only bumps a task's `updated`
  (metrics, parameters, artifacts: many a second under load) does not: the source's probe
  finds it within `notify.PROBE_S`, so a burst of metric commits costs one look a second,
  not one each. Console lines through this server poke at once (the hub).

Woken, it asks for the task and node rows above its cursor (two indexed range scans on its own
connection, only the columns a live view shows) and hands them to the subscribed streams on the
event loop: one read per change, however many pages are open. A new stream's first state is read
on the same thread, so nothing it later receives is older than what it started from.

It also wakes long-poll claims, but only for what they wait for: a task that another process
queued (one wake per task, on its queue). Tasks this server enqueued rang their own wake already.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ductwork.core.display import mask_secrets
from ductwork.server.services.doorbell import Doorbell
from ductwork.store import notify

if TYPE_CHECKING:
    from ductwork.store.store import Store

log = logging.getLogger("ductwork.server")

TICK_S = 0.05  # SQLite: how often data_version is compared (a poke answers at once)
POKE_S = 0.05  # PostgreSQL: LISTEN waits this long at a time, to see pokes (new streams) too
RETRY_S = 5.0  # after the feed's connection failed
OWN_FORGET_S = 60.0  # an own enqueue the feed never saw (it failed) is forgotten after this
MIN_LOOK_S = 0.02  # after a look, changes gather this long: a write burst costs one look, not one each
STORE_LOOK_S = 1.0  # the fallback without a connection of its own: a look this often

Row = dict[str, Any]


@dataclass
class Batch:
    """Rows that changed, for one stream: tasks by id, nodes of each run by name."""

    tasks: dict[str, Row] = field(default_factory=dict)
    nodes: dict[str, dict[str, Row]] = field(default_factory=dict)

    def merge(self, other: Batch) -> None:
        self.tasks.update(other.tasks)
        for run, nodes in other.nodes.items():
            self.nodes.setdefault(run, {}).update(nodes)


class Subscriber:
    """One open stream's inbox: what changed since it last took, merged (a slow client never
    makes the feed wait or queue without bound)."""

    def __init__(self, run: str | None, task: str | None) -> None:
        self.run = run
        self.task = task
        self.pending: Batch | None = None
        self.ready = asyncio.Event()

    def follows(self, row: Row) -> bool:
        return row["id"] in (self.run, self.task) or (self.run is not None and row["parent"] == self.run)

    def put(self, batch: Batch) -> None:
        if self.pending is None:
            self.pending = batch
        else:
            self.pending.merge(batch)
        self.ready.set()

    async def take(self, timeout: float) -> Batch | None:
        """What changed, waiting up to `timeout` seconds; None when nothing did."""
        if self.pending is None:
            try:
                await asyncio.wait_for(self.ready.wait(), timeout)
            except asyncio.TimeoutError:
                return None
        batch, self.pending = self.pending, None
        self.ready.clear()
        return batch


class Feed:
    def __init__(self, store: Store, work: Doorbell) -> None:
        self.store = store
        self.work = work
        self.closing = False
        self.looks = 0  # how many times it read changes (tests check it reads on a poke)
        self._poke = threading.Event()
        self._lock = threading.Lock()
        self._subscribers: set[Subscriber] = set()
        self._new: list[Subscriber] = []  # waiting for their first state
        self._own: dict[str, float] = {}  # task ids this server enqueued -> when
        self._seen_tasks: dict[str, float] = {}
        self._seen_nodes: dict[tuple[str, str], float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- called by the hub and the streams ---------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="ductwork-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        self.closing = True
        self._poke.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake_all(self) -> None:
        """Every stream looks up now (the server is stopping). On the event loop."""
        for subscriber in list(self._subscribers):
            subscriber.ready.set()

    def poke(self) -> None:
        """Something changed (this server committed a write): look now (thread-safe)."""
        self._poke.set()

    def enqueuing(self, task_ids: list[str]) -> None:
        """These tasks are being enqueued here, and their claims woken here: not again by the feed."""
        stamp = time.monotonic()
        with self._lock:
            for task_id in task_ids:
                self._own[task_id] = stamp

    def subscribe(self, run: str | None, task: str | None) -> Subscriber:
        """A stream's inbox; its first batch is the current state of all it follows."""
        subscriber = Subscriber(run, task)
        with self._lock:
            self._new.append(subscriber)
        self._poke.set()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)
            if subscriber in self._new:
                self._new.remove(subscriber)

    # -- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        source: notify.Source | None = None
        cursor: float | None = None
        while not self.closing:
            try:
                if source is None:
                    source = self._open()
                    cursor = None
                cursor = self._turn(source, cursor)
            except Exception as exc:  # the feed must outlive a database hiccup
                log.warning("ductwork server: live feed failed (%s); reconnecting", mask_secrets(exc))
                if source is not None:
                    _close(source)
                source = None
                self._poke.wait(RETRY_S)
        if source is not None:
            _close(source)

    def _open(self) -> notify.Source:
        try:
            source = notify.open_source(str(self.store.url))
        except Exception as exc:  # e.g. a read-only folder: the store's own reads still work
            log.warning("ductwork server: live feed reads through the store (%s)", mask_secrets(exc))
            source = None
        return source if source is not None else _StoreSource(self.store)

    def _turn(self, source: notify.Source, cursor: float | None) -> float | None:
        """Wait for a sign of change, then read what changed and hand it on."""
        if source.blocking:
            moved = source.wait(POKE_S)
        else:
            self._poke.wait(TICK_S)
            moved = source.wait(0.0)
        poked = self._poke.is_set()
        self._poke.clear()
        if cursor is None:
            cursor = source.look(None).cursor
        with self._lock:
            new, self._new = self._new, []
        for subscriber in new:  # before the look: what the look finds is newer
            self._hand(subscriber, source.snapshot(subscriber.run, subscriber.task))
        if not (moved or poked or new):
            return cursor
        self.looks += 1
        found = source.look(cursor)
        tasks = [t for t in found.tasks if self._seen_tasks.get(t["id"]) != t["updated"]]
        nodes = [n for n in found.nodes if self._seen_nodes.get((n["run_id"], n["name"])) != n["updated"]]
        self._remember(found, tasks, nodes)
        if tasks or nodes:
            self._publish(tasks, nodes)
            self._wake_claims(tasks)
        time.sleep(MIN_LOOK_S)
        return found.cursor

    def _remember(self, found: notify.Look, tasks: list[Row], nodes: list[Row]) -> None:
        # Only PostgreSQL's trailing cursor reports a row again; forget what fell behind it.
        for t in tasks:
            self._seen_tasks[t["id"]] = t["updated"]
        for n in nodes:
            self._seen_nodes[(n["run_id"], n["name"])] = n["updated"]
        if len(self._seen_tasks) + len(self._seen_nodes) > 1000:
            self._seen_tasks = {k: v for k, v in self._seen_tasks.items() if v > found.cursor}
            self._seen_nodes = {k: v for k, v in self._seen_nodes.items() if v > found.cursor}

    def _hand(self, subscriber: Subscriber, look: notify.Look) -> None:
        batch = Batch(tasks={t["id"]: t for t in look.tasks})
        if subscriber.run:
            batch.nodes[subscriber.run] = {n["name"]: n for n in look.nodes}

        def deliver() -> None:
            with self._lock:
                self._subscribers.add(subscriber)
            subscriber.put(batch)

        self._call(deliver)

    def _publish(self, tasks: list[Row], nodes: list[Row]) -> None:
        by_run: dict[str, dict[str, Row]] = {}
        for n in nodes:
            by_run.setdefault(n["run_id"], {})[n["name"]] = n

        def deliver() -> None:
            for subscriber in list(self._subscribers):
                batch = Batch(
                    tasks={t["id"]: t for t in tasks if subscriber.follows(t)},
                    nodes={subscriber.run: by_run[subscriber.run]} if subscriber.run in by_run else {},
                )
                if batch.tasks or batch.nodes:
                    subscriber.put(batch)

        self._call(deliver)

    def _wake_claims(self, tasks: list[Row]) -> None:
        """One wake per task another process queued, on its queue."""
        queued: dict[str, int] = {}
        now = time.monotonic()
        with self._lock:
            for t in tasks:
                if t["status"] == "queued" and self._own.pop(t["id"], None) is None and t["queue"]:
                    queued[t["queue"]] = queued.get(t["queue"], 0) + 1
            if self._own:
                self._own = {k: v for k, v in self._own.items() if now - v < OWN_FORGET_S}
        for queue, count in queued.items():
            self.work.ring(count, queue)

    def _call(self, function: Callable[[], None]) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(function)


def _close(source: notify.Source) -> None:
    try:
        source.close()
    except Exception:  # already broken
        pass


class _StoreSource:
    """An in-memory SQLite store (no second connection sees it: only this server writes it, and
    every write pokes the feed), or a store the feed could not open a connection of its own to:
    the looks go through the store's own methods, and once every `STORE_LOOK_S` unpoked."""

    blocking = False

    def __init__(self, store: Store) -> None:
        self.store = store
        self._next = time.monotonic() + STORE_LOOK_S

    def wait(self, timeout: float) -> bool:
        if time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + STORE_LOOK_S
        return True

    def look(self, cursor: float | None) -> notify.Look:
        from ductwork.core.errors import NotFound

        changed = self.store.changes_since(cursor)
        tasks = []
        for task_id in changed.tasks:
            try:
                tasks.append(_task_row(self.store.get_task(task_id)))
            except NotFound:
                continue  # deleted since
        nodes = [
            _node_row(n, stamp) for run, stamp in changed.runs.items() for n in self.store.get_nodes(run)
        ]
        return notify.Look(cursor=changed.cursor, tasks=tasks, nodes=nodes)

    def snapshot(self, run: str | None, task: str | None) -> notify.Look:
        from ductwork.core.queries import TaskQuery

        records = [self.store.get_task(t) for t in (run, task) if t]
        if run:
            records += self.store.query_tasks(TaskQuery(parent=run, archived=None, order_by="created"))
        nodes = [_node_row(n, 0.0) for n in self.store.get_nodes(run)] if run else []
        return notify.Look(cursor=0.0, tasks=[_task_row(t) for t in records], nodes=nodes)

    def close(self) -> None:
        pass


def _task_row(task: Any) -> Row:
    return {name: getattr(task, name) for name in notify.TASK_COLUMNS}


def _node_row(node: Any, updated: float) -> Row:
    row = {name: getattr(node, name) for name in notify.NODE_COLUMNS if name != "updated"}
    row["updated"] = updated
    return row
