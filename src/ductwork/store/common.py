"""Helpers every resource module uses: the clock, task checks and bumps."""

from __future__ import annotations

import time
from collections.abc import Iterable

from ductwork.core.errors import NotFound, StatusError
from ductwork.core.states import TaskStatus
from ductwork.store.sql import Conn, in_list

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


_TOUCH = "UPDATE tasks SET updated = :now WHERE id = :task_id RETURNING status"


def touch_writable_task(conn: Conn, task_id: str) -> str:
    """Bump the task's `updated` and return its status; NotFound / StatusError(published).

    One statement does the existence check, the read-only check and the change marker
    the live views poll for. A failure rolls the bump back with the rest of the write.
    """
    status = conn.scalar(_TOUCH, {"task_id": task_id, "now": now()})
    if status is None:
        raise NotFound(f"task {task_id} not found")
    if status == PUBLISHED:
        raise StatusError(f"task {task_id} is published and read-only; clone it to change it")
    return str(status)


def touch_writable_tasks(conn: Conn, task_ids: Iterable[str]) -> None:
    """`touch_writable_task` for a batch (events, console lines) in one statement."""
    wanted = set(task_ids) - conn.fresh
    if not wanted:
        return
    if len(wanted) == 1:
        touch_writable_task(conn, next(iter(wanted)))
        return
    params: dict[str, object] = {"now": now()}
    ids = in_list("id", sorted(wanted), params)
    if conn.pg:
        # Lock the rows in one global order first, so two batches over the same tasks
        # cannot deadlock by locking them in different orders.
        conn.rows(f"SELECT id FROM tasks WHERE id IN {ids} ORDER BY id FOR UPDATE", params)
    rows = conn.rows(f"UPDATE tasks SET updated = :now WHERE id IN {ids} RETURNING id, status", params)
    found = dict(rows)
    missing = sorted(wanted - found.keys())
    if missing:
        raise NotFound(f"task {missing[0]} not found")
    for task_id, status in found.items():
        if status == PUBLISHED:
            raise StatusError(f"task {task_id} is published and read-only; clone it to change it")


def require_task(conn: Conn, task_id: str) -> None:
    """NotFound unless the task exists. Readers call it only when a lookup came back empty."""
    if conn.first("SELECT id FROM tasks WHERE id = :task_id", {"task_id": task_id}) is None:
        raise NotFound(f"task {task_id} not found")
