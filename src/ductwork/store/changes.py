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

import sqlalchemy as sa

from ductwork.store.common import now
from ductwork.store.tables import nodes, tasks

SETTLE_S = 2.0


@dataclass
class Changes:
    cursor: float  # pass it to the next `changes_since`
    tasks: dict[str, float] = field(default_factory=dict)  # task id -> its `updated`
    runs: dict[str, float] = field(default_factory=dict)  # run (controller task) id -> newest node `updated`


_tasks_after = sa.select(tasks.c.id, tasks.c.updated).where(tasks.c.updated > sa.bindparam("cursor"))
_runs_after = (
    sa.select(nodes.c.run_id, sa.func.max(nodes.c.updated))
    .where(nodes.c.updated > sa.bindparam("cursor"))
    .group_by(nodes.c.run_id)
)
_newest = sa.select(sa.func.max(tasks.c.updated))
_newest_node = sa.select(sa.func.max(nodes.c.updated))


def since(conn: sa.Connection, cursor: float | None) -> Changes:
    """Changes after `cursor`; with None, just the current cursor (where a new poller starts)."""
    if cursor is None:
        newest = max(conn.execute(_newest).scalar() or 0.0, conn.execute(_newest_node).scalar() or 0.0)
        return Changes(cursor=_settled(conn, newest))
    changed = {row.id: row.updated for row in conn.execute(_tasks_after, {"cursor": cursor})}
    runs = {row[0]: row[1] for row in conn.execute(_runs_after, {"cursor": cursor})}
    newest = max([cursor, *changed.values(), *runs.values()])
    return Changes(cursor=max(cursor, _settled(conn, newest)), tasks=changed, runs=runs)


def _settled(conn: sa.Connection, newest: float) -> float:
    if conn.dialect.name == "postgresql":
        return min(newest, now() - SETTLE_S)
    return newest
