"""What changed since a cursor: the cheap poll behind the server's live events.

Every write to a task (status, fields, parameters, artifacts, models, events, console)
sets its `updated` to the write time, and `put_nodes` sets each node's `updated`; both
columns are indexed. A cursor is the newest `updated` a poller has seen; the next poll
asks for rows above it, two indexed range scans.

Why no rows are missed: on SQLite every write holds the single write lock from before it
reads the clock until it commits, so commits appear in timestamp order. On PostgreSQL
concurrent transactions can commit out of order, so the returned cursor trails the clock
by `SETTLE_S`: an id may then be reported twice, never skipped (a caller that cares can
compare the `updated` values it is given).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ductwork.store.common import now
from ductwork.store.sql import Conn

SETTLE_S = 2.0


@dataclass
class Changes:
    cursor: float  # pass it to the next `changes_since`
    tasks: dict[str, float] = field(default_factory=dict)  # task id -> its `updated`
    runs: dict[str, float] = field(default_factory=dict)  # run (controller task) id -> newest node `updated`


_TASKS_AFTER = "SELECT id, updated FROM tasks WHERE updated > :cursor"
_RUNS_AFTER = "SELECT run_id, MAX(updated) FROM nodes WHERE updated > :cursor GROUP BY run_id"
_NEWEST = "SELECT MAX(updated) FROM tasks"
_NEWEST_NODE = "SELECT MAX(updated) FROM nodes"


def since(conn: Conn, cursor: float | None) -> Changes:
    """Changes after `cursor`; with None, just the current cursor (where a new poller starts)."""
    if cursor is None:
        newest = max(conn.scalar(_NEWEST) or 0.0, conn.scalar(_NEWEST_NODE) or 0.0)
        return Changes(cursor=_settled(conn, newest))
    changed = dict(conn.rows(_TASKS_AFTER, {"cursor": cursor}))
    runs = dict(conn.rows(_RUNS_AFTER, {"cursor": cursor}))
    newest = max([cursor, *changed.values(), *runs.values()])
    return Changes(cursor=max(cursor, _settled(conn, newest)), tasks=changed, runs=runs)


def _settled(conn: Conn, newest: float) -> float:
    if conn.pg:
        return min(newest, now() - SETTLE_S)
    return newest
