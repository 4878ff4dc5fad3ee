"""Helpers every resource module uses: dialect-aware upserts, locks, errors, task checks."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from ductwork.core.errors import NotFound, StatusError
from ductwork.core.states import TaskStatus
from ductwork.store.tables import tasks

PUBLISHED = TaskStatus.published.value


_last_stamp = 0.0


def now() -> float:
    """The wall clock, but never the same value twice in this process.

    `updated` is the change cursor (see `changes`): two writes with one timestamp could hide
    the second from a poller that has seen the first, and coarse clocks do repeat values.
    """
    global _last_stamp
    stamp = time.time()
    if stamp <= _last_stamp:
        stamp = _last_stamp + 1e-6
    _last_stamp = stamp
    return stamp


def insert(conn: sa.Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_update` / `on_conflict_do_nothing`."""
    # imported here: on SQLite, SQLAlchemy's PostgreSQL dialect (and its drivers) is ~35 ms of import
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


_upserts: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}


def upsert(conn: sa.Connection, table: sa.Table, keys: Sequence[str], columns: Iterable[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET every other column to the new value.

    Built once per shape: constructing the statement costs more than running it on SQLite.
    """
    cache_key = (conn.dialect.name, table.name, tuple(keys), tuple(columns))
    stmt = _upserts.get(cache_key)
    if stmt is None:
        base = insert(conn, table)
        updates = {name: base.excluded[name] for name in cache_key[3] if name not in keys}
        stmt = _upserts[cache_key] = base.on_conflict_do_update(index_elements=list(keys), set_=updates)
    return stmt


def for_update(conn: sa.Connection, select: sa.Select[Any]) -> sa.Select[Any]:
    """Row lock on PostgreSQL; on SQLite the `BEGIN IMMEDIATE` of the write already serialises."""
    return select.with_for_update() if conn.dialect.name == "postgresql" else select


def is_foreign_key_error(error: exc.IntegrityError) -> bool:
    code = getattr(error.orig, "sqlstate", None)
    if code is not None:
        return bool(code == "23503")
    return "FOREIGN KEY" in str(error.orig)


def is_unique_error(error: exc.IntegrityError) -> bool:
    code = getattr(error.orig, "sqlstate", None)
    if code is not None:
        return bool(code == "23505")
    return "UNIQUE" in str(error.orig) or "PRIMARY KEY" in str(error.orig)


_touch = (
    sa.update(tasks)
    .where(tasks.c.id == sa.bindparam("task_id"))
    .values(updated=sa.bindparam("now"))
    .returning(tasks.c.status)
)


def touch_writable_task(conn: sa.Connection, task_id: str) -> str:
    """Bump the task's `updated` and return its status; NotFound / StatusError(published).

    One statement does the existence check, the read-only check and the change marker
    the live views poll for. A failure rolls the bump back with the rest of the write.
    """
    status = conn.execute(_touch, {"task_id": task_id, "now": now()}).scalar()
    if status is None:
        raise NotFound(f"task {task_id} not found")
    if status == PUBLISHED:
        raise StatusError(f"task {task_id} is published and read-only; clone it to change it")
    return str(status)


def touch_writable_tasks(conn: sa.Connection, task_ids: Iterable[str]) -> None:
    """`touch_writable_task` for a batch (events, console lines) in one statement."""
    wanted = set(task_ids)
    if len(wanted) == 1:
        touch_writable_task(conn, next(iter(wanted)))
        return
    if conn.dialect.name == "postgresql":
        # Lock the rows in one global order first, so two batches over the same tasks
        # cannot deadlock by locking them in different orders.
        conn.execute(
            sa.select(tasks.c.id).where(tasks.c.id.in_(wanted)).order_by(tasks.c.id).with_for_update()
        )
    rows = conn.execute(
        sa.update(tasks)
        .where(tasks.c.id.in_(wanted))
        .values(updated=now())
        .returning(tasks.c.id, tasks.c.status)
    ).all()
    found = {row.id: row.status for row in rows}
    missing = sorted(wanted - found.keys())
    if missing:
        raise NotFound(f"task {missing[0]} not found")
    for task_id, status in found.items():
        if status == PUBLISHED:
            raise StatusError(f"task {task_id} is published and read-only; clone it to change it")


_exists = sa.select(tasks.c.id).where(tasks.c.id == sa.bindparam("task_id"))


def require_task(conn: sa.Connection, task_id: str) -> None:
    """NotFound unless the task exists. Readers call it only when a lookup came back empty."""
    if conn.execute(_exists, {"task_id": task_id}).first() is None:
        raise NotFound(f"task {task_id} not found")
