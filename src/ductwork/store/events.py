"""Metric events and console lines: written in batches with one executemany each."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from ductwork.core.errors import ValidationError
from ductwork.core.queries import EventQuery
from ductwork.core.records import ConsoleLine, MetricEvent
from ductwork.store.common import require_task, touch_writable_tasks
from ductwork.store.tables import console, events

KINDS = frozenset({"scalar", "single", "plot", "table", "text", "image", "histogram"})
STREAMS = frozenset({"stdout", "stderr", "ductwork"})
_EVENT_FIELDS = ("task_id", "kind", "title", "series", "iteration", "value", "payload", "ts")
_insert_events = sa.insert(events)
_insert_console = sa.insert(console)
_last_seq = sa.select(sa.func.max(console.c.seq)).where(console.c.task_id == sa.bindparam("task_id"))


def add_events(conn: sa.Connection, batch: Sequence[MetricEvent]) -> None:
    if not batch:
        return
    rows = []
    for event in batch:
        if event.kind not in KINDS:
            raise ValidationError(
                f"task {event.task_id}: unknown event kind {event.kind!r}; one of {sorted(KINDS)}"
            )
        rows.append(
            {
                "task_id": event.task_id,
                "kind": event.kind,
                "title": event.title,
                "series": event.series,
                "iteration": event.iteration,
                "value": event.value,
                "payload": event.payload,
                "ts": event.ts,
            }
        )
    touch_writable_tasks(conn, {event.task_id for event in batch})
    conn.execute(_insert_events, rows)


def get_events(conn: sa.Connection, q: EventQuery) -> list[MetricEvent]:
    stmt = sa.select(*(events.c[name] for name in _EVENT_FIELDS)).where(events.c.task_id == q.task_id)
    if q.kind is not None:
        stmt = stmt.where(events.c.kind == q.kind)
    if q.title is not None:
        stmt = stmt.where(events.c.title == q.title)
    if q.series is not None:
        stmt = stmt.where(events.c.series == q.series)
    if q.after_iteration is not None:
        stmt = stmt.where(events.c.iteration > q.after_iteration)
    stmt = stmt.order_by(events.c.iteration, events.c.id)
    if q.limit is not None:
        stmt = stmt.limit(q.limit)
    result = [MetricEvent(*row) for row in conn.execute(stmt)]
    if not result:
        require_task(conn, q.task_id)
    return result


def add_console(conn: sa.Connection, lines: Sequence[ConsoleLine]) -> list[ConsoleLine]:
    """Store the lines; each gets the next `seq` of its task (returned records carry it)."""
    if not lines:
        return []
    for line in lines:
        if line.stream not in STREAMS:
            raise ValidationError(f"task {line.task_id}: unknown console stream {line.stream!r}")
        if not isinstance(line.text, str):
            raise ValidationError(f"task {line.task_id}: console text must be a string")
    task_ids = {line.task_id for line in lines}
    # The touch also locks the task rows on PostgreSQL (SQLite: the whole write is serial),
    # so two writers of one task's console cannot pick the same seq.
    touch_writable_tasks(conn, task_ids)
    next_seq = {
        task_id: (conn.execute(_last_seq, {"task_id": task_id}).scalar() or 0) + 1 for task_id in task_ids
    }
    stored, rows = [], []
    for line in lines:
        seq = next_seq[line.task_id]
        next_seq[line.task_id] = seq + 1
        stored.append(ConsoleLine(line.task_id, line.text, line.stream, line.ts, seq))
        rows.append(
            {"task_id": line.task_id, "seq": seq, "text": line.text, "stream": line.stream, "ts": line.ts}
        )
    conn.execute(_insert_console, rows)
    return stored


def get_console(conn: sa.Connection, task_id: str, *, after: int, limit: int | None) -> list[ConsoleLine]:
    stmt = (
        sa.select(console.c.task_id, console.c.text, console.c.stream, console.c.ts, console.c.seq)
        .where(console.c.task_id == task_id, console.c.seq > after)
        .order_by(console.c.seq)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    result = [ConsoleLine(*row) for row in conn.execute(stmt)]
    if not result:
        require_task(conn, task_id)
    return result
