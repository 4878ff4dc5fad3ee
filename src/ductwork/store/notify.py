"""Change signals for the server's live feed: told when the database changed, not polled.

A `Source` is one dedicated DB-API connection (never the store's pool) that answers two things:

* `wait(timeout)`: True as soon as something may have changed. On SQLite it compares `PRAGMA
  data_version`, which moves whenever *another* connection commits (the server's own pool,
  the CLI, an embedded agent or a local-mode controller writing the same file): microseconds,
  no query plan, no table touched, so a watcher may ask it every few milliseconds. On
  PostgreSQL it waits on `LISTEN`: the statement triggers of migrations 0003 and 0007 send
  `NOTIFY ductwork_changes` from every transaction that writes `nodes`, inserts or deletes
  `tasks` or sets a task field a live view shows (one per transaction whatever the rows;
  PostgreSQL folds duplicates), enqueues included. The payload names the schema, so stores
  side by side in one database do not wake each other. A write that only bumps a task's
  `updated` (metrics, console lines, parameters, artifacts: dozens of commits a second under
  load) notifies nobody; once every `PROBE_S` without a notification, the ids and `updated`
  of the task rows the next look would return (an index range scan, nothing decoded) tell
  whether any moved, so such a write is announced within a second and never lost.
* `look(cursor)`: the task and node rows whose `updated` is above the cursor, the columns a live
  view shows and nothing else (no JSON column decoded). Two indexed range scans.

Cursors work as in `changes.py`: on SQLite commits appear in timestamp order (one writer holds
the lock from reading the clock to committing); on PostgreSQL concurrent transactions can commit
out of order, so the cursor returned trails the clock by `SETTLE_S` and a row may come back on
the next looks: callers compare the `updated` they are given.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

CHANGES_CHANNEL = "ductwork_changes"
SETTLE_S = 2.0
PROBE_S = 1.0  # PostgreSQL: how often `updated`-only writes (which do not NOTIFY) are looked for

TASK_COLUMNS = (
    "id",
    "name",
    "status",
    "status_message",
    "parent",
    "started",
    "ended",
    "worker",
    "type",
    "queue",
    "updated",
)
NODE_COLUMNS = (
    "run_id",
    "name",
    "status",
    "task_id",
    "started",
    "ended",
    "attempt",
    "cache_key",
    "cache_note",
    "message",
    "updated",
)
_TASKS = f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks WHERE updated > {{p}}"
_NODES = f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes WHERE updated > {{p}}"
_NEWEST = "SELECT (SELECT max(updated) FROM tasks), (SELECT max(updated) FROM nodes)"
# The next look's task rows, by id and `updated` only: any row written since differs.
_PROBE = "SELECT id, updated FROM tasks WHERE updated > %s"
_FOLLOWED = (
    f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks WHERE id = {{p}} OR id = {{p}} OR parent = {{p}} "
    "ORDER BY created"
)
_RUN_NODES = f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes WHERE run_id = {{p}} ORDER BY id"


@dataclass
class Look:
    cursor: float
    tasks: list[dict[str, Any]] = field(default_factory=list)  # TASK_COLUMNS
    nodes: list[dict[str, Any]] = field(default_factory=list)  # NODE_COLUMNS


class Source(Protocol):
    blocking: bool  # wait() sleeps until told (PostgreSQL) or answers at once (SQLite)

    def wait(self, timeout: float) -> bool: ...

    def look(self, cursor: float | None) -> Look: ...

    def snapshot(self, run: str | None, task: str | None) -> Look: ...

    def close(self) -> None: ...


def open_source(url: str) -> Source | None:
    """The source for a store URL; None for an in-memory SQLite database (no second connection
    can see it: only the server's own writes happen there)."""
    scheme = url.partition("://")[0]
    if scheme.startswith("postgresql"):
        return PostgresSource(url)
    path = sqlite_file(url)
    return SqliteSource(path) if path else None


def sqlite_file(url: str) -> str | None:
    """The file of `sqlite:///PATH` (query string dropped), None for an in-memory database."""
    rest = url.partition("://")[2]
    path = unquote(rest[1:].partition("?")[0]) if rest.startswith("/") else ""
    if not path or path == ":memory:" or path.startswith("file::memory:"):
        return None
    return path


def _rows(cursor: Any, sql: str, args: tuple[Any, ...], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    cursor.execute(sql, args)
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _snapshot(cursor: Any, param: str, run: str | None, task: str | None) -> Look:
    """The run's controller and steps (or one task) and the run's nodes, as they are now."""
    tasks = _rows(cursor, _FOLLOWED.format(p=param), (run or "", task or "", run or ""), TASK_COLUMNS)
    nodes = _rows(cursor, _RUN_NODES.format(p=param), (run,), NODE_COLUMNS) if run else []
    return Look(cursor=0.0, tasks=tasks, nodes=nodes)


def _look(cursor: Any, param: str, after: float | None, settle: float) -> Look:
    if after is None:
        cursor.execute(_NEWEST)
        newest_task, newest_node = cursor.fetchone()
        newest = max(newest_task or 0.0, newest_node or 0.0)
        return Look(cursor=min(newest, time.time() - settle) if settle else newest)
    tasks = _rows(cursor, _TASKS.format(p=param), (after,), TASK_COLUMNS)
    nodes = _rows(cursor, _NODES.format(p=param), (after,), NODE_COLUMNS)
    newest = max([after, *(t["updated"] for t in tasks), *(n["updated"] for n in nodes)])
    if settle:
        newest = max(after, min(newest, time.time() - settle))
    return Look(cursor=newest, tasks=tasks, nodes=nodes)


class SqliteSource:
    """`PRAGMA data_version` and the looks on one private autocommit connection."""

    blocking = False

    def __init__(self, path: str) -> None:
        # Autocommit: no statement leaves a read transaction open (which would pin the WAL).
        self._conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._version = self._data_version()

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        """True when a commit landed since the last call (by any other connection or process)."""
        version = self._data_version()
        moved = version != self._version
        self._version = version
        return moved

    def wait(self, timeout: float) -> bool:
        """Whether a commit landed since the last call; answers at once (`timeout` unused)."""
        return self.changed()

    def look(self, cursor: float | None) -> Look:
        return _look(self._conn.cursor(), "?", cursor, 0.0)

    def snapshot(self, run: str | None, task: str | None) -> Look:
        return _snapshot(self._conn.cursor(), "?", run, task)

    def close(self) -> None:
        self._conn.close()


class PostgresSource:
    """`LISTEN` and the looks, on one private autocommit connection."""

    blocking = True

    def __init__(self, url: str) -> None:
        import psycopg

        rest = url.partition("://")[2]
        self._conn = psycopg.connect("postgresql://" + rest, autocommit=True)
        row = self._conn.execute("SELECT current_schema()").fetchone()
        self._schema = f"{row[0] if row else 'public'}."
        self._conn.execute(f'LISTEN "{CHANGES_CHANNEL}"')
        self._cursor: float | None = None  # of the last look
        self._looked: dict[str, float] = {}  # its task rows: id -> `updated`
        self._probed = time.monotonic()

    def wait(self, timeout: float) -> bool:
        """True when a notification arrived within `timeout` (all pending ones are taken), or
        when the probe, due every `PROBE_S`, finds a task row written since the last look."""
        got = False
        deadline = time.monotonic() + timeout
        while not got:
            left = deadline - time.monotonic()
            for note in self._conn.notifies(timeout=max(0.0, left), stop_after=1):
                got = got or note.payload.startswith(self._schema)
            if left <= 0:
                break
        if got:
            for _ in self._conn.notifies(timeout=0.0):  # the rest of a burst: one look covers it
                pass
            return True
        return self._probe()

    def _probe(self) -> bool:
        now = time.monotonic()
        if self._cursor is None or now - self._probed < PROBE_S:
            return False
        self._probed = now
        return dict(self._conn.execute(_PROBE, (self._cursor,)).fetchall()) != self._looked

    def look(self, cursor: float | None) -> Look:
        with self._conn.cursor() as cur:
            found = _look(cur, "%s", cursor, SETTLE_S)
        # What the probe compares with: the rows above the cursor this look was given (a first
        # look returns none, so rows already there cost one look more, never one less).
        self._cursor = found.cursor if cursor is None else cursor
        self._looked = {t["id"]: t["updated"] for t in found.tasks}
        self._probed = time.monotonic()
        return found

    def snapshot(self, run: str | None, task: str | None) -> Look:
        with self._conn.cursor() as cur:
            return _snapshot(cur, "%s", run, task)

    def close(self) -> None:
        self._conn.close()
