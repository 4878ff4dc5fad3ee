"""How an idle agent learns of new work at once, without sleeping between polls.

* Over a server: a long-poll claim. The server holds the request and answers the moment
  something is enqueued (woken in-process by the enqueue itself). The same request carries the
  end of the slot's previous run (`RunEnd`: its last console lines and final status), recorded
  before the claim: one round trip between two tasks instead of two.
* On an embedded SQLite store: `PRAGMA data_version` on a private connection changes the
  moment any other connection commits; checking it costs a few microseconds and takes no
  lock, so the agent checks it every few milliseconds and claims (a write) only after a
  commit happened.
* On an embedded PostgreSQL store: LISTEN on the channel every enqueue NOTIFYs (payload: the
  queue name), claiming when one of the agent's queues is named, and once every
  `PG_FALLBACK_S` in case a notification was missed (a reconnect).
* Anything else: a claim per short tick.

On an embedded store every claimer's first claim carries the slot's previous run's end too,
recorded in the claim's own transaction (`Store.claim(..., end=)`): one commit between two
runs.
"""

from __future__ import annotations

import functools
import inspect
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ductwork.core.records import ConsoleLine, TaskRecord

# Longest a server holds one claim request; agents re-ask right away.
LONG_POLL_S = 20.0
# How often the SQLite watcher looks at data_version.
DATA_VERSION_TICK_S = 0.005
# Claim tick on stores without a change signal.
CLAIM_TICK_S = 0.1
# A LISTENing agent still claims this often without a notification.
PG_FALLBACK_S = 5.0


@dataclass
class RunEnd:
    """How a claimed run ended, said with its slot's next claim (`Claimer.takes_ends`)."""

    claim: TaskRecord  # the run's claim: the end is recorded over it only
    status: str  # completed or failed
    message: str = ""
    reason: str = ""
    console: list[ConsoleLine] = field(default_factory=list)  # its last lines, storable

    def said(self) -> dict[str, Any]:
        """The end as `end_claim` takes it (keyword arguments)."""
        return {
            "task_id": self.claim.id,
            "worker": self.claim.worker,
            "started": self.claim.started,
            "status": self.status,
            "message": self.message,
            "reason": self.reason,
            "console": self.console,
        }


class Claimer(Protocol):
    takes_ends: bool  # whether `claim` can say a run's end in the same round trip

    def claim(
        self, queues: Sequence[str], worker: str, stop: threading.Event, end: RunEnd | None = None
    ) -> TaskRecord | None:
        """The next task for `worker`, waiting for one (None when `stop` was set or on timeout),
        after recording `end` (raises, having claimed nothing, when that fails)."""
        ...


class LongPollClaimer:
    takes_ends = True

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def claim(
        self, queues: Sequence[str], worker: str, stop: threading.Event, end: RunEnd | None = None
    ) -> TaskRecord | None:
        if stop.is_set() and end is None:
            return None
        wait = 0.0 if stop.is_set() else LONG_POLL_S  # stopping: only say the end
        said = None if end is None else end.said()
        task: TaskRecord | None = self._backend.wait_claim(queues, worker, wait=wait, end=said)
        return task


class SqliteClaimer:
    """Claims after each commit anyone makes to the SQLite file at `path`."""

    takes_ends = True

    def __init__(self, backend: Any, path: Path) -> None:
        self._backend = backend
        self._path = path
        self._local = threading.local()

    def claim(
        self, queues: Sequence[str], worker: str, stop: threading.Event, end: RunEnd | None = None
    ) -> TaskRecord | None:
        version = self._data_version()
        task: TaskRecord | None = _claim_saying(self._backend, queues, worker, end)
        if task is not None:
            return task
        deadline = time.monotonic() + LONG_POLL_S
        while not stop.is_set() and time.monotonic() < deadline:
            if stop.wait(DATA_VERSION_TICK_S):
                return None
            current = self._data_version()
            if current != version:
                version = current
                task = self._backend.claim(queues, worker)
                if task is not None:
                    return task
        return None

    def _data_version(self) -> int:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=True)
            self._local.connection = connection
        return int(connection.execute("PRAGMA data_version").fetchone()[0])


class PgListenClaimer:
    """Claims when PostgreSQL notifies an enqueue on one of the agent's queues."""

    takes_ends = True

    def __init__(self, backend: Any, url: str, channel: str) -> None:
        self._backend = backend
        self._url = url
        self._channel = channel
        self._local = threading.local()

    def claim(
        self, queues: Sequence[str], worker: str, stop: threading.Event, end: RunEnd | None = None
    ) -> TaskRecord | None:
        connection = self._listening()  # LISTEN before looking, so no enqueue falls in between
        task: TaskRecord | None = _claim_saying(self._backend, queues, worker, end)
        if task is not None:
            return task
        deadline = time.monotonic() + LONG_POLL_S
        next_fallback = time.monotonic() + PG_FALLBACK_S
        wanted = set(queues)
        while not stop.is_set() and time.monotonic() < deadline:
            named = False
            try:
                for note in connection.notifies(timeout=0.5, stop_after=1):
                    named = named or note.payload in wanted or not note.payload
            except Exception:  # the LISTEN connection broke: open a new one next time
                self._local.connection = None
                return None
            if named or time.monotonic() >= next_fallback:
                next_fallback = time.monotonic() + PG_FALLBACK_S
                task = self._backend.claim(queues, worker)
                if task is not None:
                    return task
        return None

    def _listening(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None or connection.closed:
            import psycopg

            connection = psycopg.connect(self._url, autocommit=True)
            connection.execute(f'LISTEN "{self._channel}"')
            self._local.connection = connection
        return connection


class TickClaimer:
    takes_ends = True

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def claim(
        self, queues: Sequence[str], worker: str, stop: threading.Event, end: RunEnd | None = None
    ) -> TaskRecord | None:
        task: TaskRecord | None = _claim_saying(self._backend, queues, worker, end)
        deadline = time.monotonic() + LONG_POLL_S
        while task is None and not stop.is_set() and time.monotonic() < deadline:
            stop.wait(CLAIM_TICK_S)
            task = self._backend.claim(queues, worker)
        return task


def _claim_saying(backend: Any, queues: Sequence[str], worker: str, end: RunEnd | None) -> TaskRecord | None:
    """A claim that first records `end`: in the claim's own transaction where the store takes
    it (`Store.claim(..., end=)`), else on its own just before."""
    task: TaskRecord | None
    if end is not None and _claims_with_end(backend.__class__):
        task = backend.claim(queues, worker, end=end.said())
        return task
    if end is not None:
        backend.end_claim(**end.said())
    task = backend.claim(queues, worker)
    return task


@functools.cache
def _claims_with_end(kind: type) -> bool:
    """Whether a backend class's `claim` takes `end` (looked up once, not on every claim)."""
    claim = getattr(kind, "claim", None)
    return claim is not None and "end" in inspect.signature(claim).parameters


def claimer_for(backend: Any, db_url: str) -> Claimer:
    """The best way to wait for work on this backend."""
    if hasattr(backend, "wait_claim"):
        return LongPollClaimer(backend)
    path = _sqlite_path(db_url)
    if path is not None and path.exists():
        return SqliteClaimer(backend, path)
    listen_url = _libpq_url(db_url)
    if listen_url is not None:
        return PgListenClaimer(backend, listen_url, _notify_channel())
    return TickClaimer(backend)


def _libpq_url(db_url: str) -> str | None:
    """The psycopg URL of a PostgreSQL store URL, when psycopg can wait for notifications."""
    if not db_url.startswith(("postgresql", "postgres")):
        return None
    try:
        import psycopg

        if not hasattr(psycopg.Connection, "notifies"):
            return None
    except ImportError:
        return None
    _scheme, sep, rest = db_url.partition("://")
    return "postgresql" + sep + rest if sep else None


def _notify_channel() -> str:
    from ductwork.store.queues import NOTIFY_CHANNEL

    return NOTIFY_CHANNEL


def _sqlite_path(db_url: str) -> Path | None:
    for prefix in ("sqlite+pysqlite:///", "sqlite:///"):
        if db_url.startswith(prefix):
            rest = db_url[len(prefix) :].split("?")[0]
            return Path(rest) if rest and rest != ":memory:" else None
    return None
