"""Metric events and console lines: written in batches with one executemany each."""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import ne
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.core.queries import EventQuery
from ductwork.core.records import ConsoleLine, MetricEvent
from ductwork.store import bounds, series
from ductwork.store.common import require_task, touch_writable_tasks
from ductwork.store.sql import Conn

KINDS = frozenset({"scalar", "single", "plot", "table", "text", "image", "histogram"})
STREAMS = frozenset({"stdout", "stderr", "ductwork"})
_EVENT_FIELDS = ("task_id", "kind", "title", "series", "iteration", "value", "payload", "ts")
# Events are the one bulk path (100,000s of points per run): plain tuples go to sqlite3's
# executemany, or to PostgreSQL's COPY (an executemany there pays a round trip per row).
# Each row holds its series' id (series.py), not the four strings that name it.
_EVENT_COLUMNS = "series_id, iteration, value, payload, ts"
_SQLITE_INSERT = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
_PG_COPY = f"COPY events ({_EVENT_COLUMNS}) FROM STDIN"
_NONE = type(None)
_INSERT_CONSOLE = (
    "INSERT INTO console (task_id, seq, text, stream, ts) VALUES (:task_id, :seq, :text, :stream, :ts)"
)
_LAST_SEQ = "SELECT MAX(seq) FROM console WHERE task_id = :task_id"


def add_events(conn: Conn, batch: Sequence[MetricEvent]) -> None:
    if not batch:
        return
    try:
        rows = list(map(bounds.EVENT_ROW, batch))
    except AttributeError:
        bounds.events(batch, conn.dialect)  # names the record that is not an event
        raise
    add_event_rows(conn, rows)


def add_event_rows(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    """`add_events` on rows (the fields of MetricEvent in order), checked the same way."""
    if not rows:
        return
    columns = bounds.event_rows(rows, conn.dialect)
    # Whole-batch passes in C over the columns (sets, maps) rather than per-event Python.
    task_ids, kinds, titles, names, iterations, values, payloads, times = columns
    unknown = set(kinds) - KINDS
    if unknown:
        raise ValidationError(f"unknown event kind {sorted(unknown)[0]!r}; one of {sorted(KINDS)}")
    as_given = True  # the columns still say what the rows hold
    if set(map(type, payloads)) - {_NONE}:
        rows = [row if row[6] is None else (*row[:6], _payload_json(row), row[7]) for row in rows]
        as_given = False
    tasks = set(task_ids)
    touch_writable_tasks(conn, tasks)
    one = len(tasks) == len(set(kinds)) == len(set(titles)) == len(set(names)) == 1
    keys = {(task_ids[0], kinds[0], titles[0], names[0])} if one else set(map(series.KEY, rows))
    known = series.ids(conn, keys)
    if conn.pg:
        _copy(conn, series.event_rows(rows, known))  # double precision holds NaN and +-inf as they are
        return
    if any(map(ne, values, values)):  # only a NaN differs from itself (ne: no identity shortcut)
        rows = [_nan_in_payload(row) if row[5] != row[5] else row for row in rows]
        as_given = False
    if one:  # one series: its id is in the statement, the rest zipped from the columns in C
        points = zip(iterations, values, payloads, times, strict=True) if as_given else (r[4:] for r in rows)
        conn.raw.executemany(series.sqlite_insert(known[next(iter(keys))]), points)
    else:
        conn.raw.executemany(_SQLITE_INSERT, series.event_rows(rows, known))


# SQLite stores a NaN bound to a REAL column as NULL (+-inf it keeps). A NaN value is therefore
# written as NULL with the JSON text NaN as its payload (scalar and single events carry none),
# and read back as NaN: no value reported changes on its way through the store.
_NAN_PAYLOAD = "NaN"


def _nan_in_payload(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*row[:5], None, _NAN_PAYLOAD, row[7])


def _nan_from_payload(event: MetricEvent) -> MetricEvent:
    payload = event.payload
    if event.value is None and isinstance(payload, float) and payload != payload:
        event.value, event.payload = payload, None
    return event


def _copy(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    """COPY the rows in on the transaction's own psycopg connection."""
    with conn.raw.cursor() as cursor, cursor.copy(_PG_COPY) as copy:
        for row in rows:
            copy.write_row(row)


def _payload_json(row: tuple[Any, ...]) -> str:
    task_id, kind, title, series, _, _, payload, _ = row
    try:
        return json.dumps(payload)
    except (TypeError, ValueError) as error:
        raise ValidationError(
            f"task {task_id}: {kind} event {title!r}/{series!r} has a payload JSON cannot hold: {error}"
        ) from error


_EVENTS = (
    "SELECT s.task_id, s.kind, s.title, s.series, e.iteration, e.value, e.payload, e.ts "
    "FROM events e JOIN series s ON s.id = e.series_id WHERE s.task_id = :task_id"
)


def get_events(conn: Conn, q: EventQuery) -> list[MetricEvent]:
    bounds.page(q.limit, 0, what="event query")
    if q.after_iteration is not None:
        bounds.integer(q.after_iteration, "event query: after_iteration")
    text, params = _EVENTS, dict[str, Any](task_id=q.task_id)
    for name, value in (("kind", q.kind), ("title", q.title), ("series", q.series)):
        if value is not None:
            text += f" AND s.{name} = :{name}"
            params[name] = value
    if q.after_iteration is not None:
        text += " AND e.iteration > :after"
        params["after"] = q.after_iteration
    text += " ORDER BY e.iteration, e.id" + conn.limit(q.limit)
    loads = json.loads
    result = [
        MetricEvent(t, k, ti, se, it, va, pa if pa is None or conn.pg else loads(pa), ts)
        for t, k, ti, se, it, va, pa, ts in conn.rows(text, params)
    ]
    if not conn.pg:
        result = [_nan_from_payload(e) if e.value is None and e.payload is not None else e for e in result]
    if not result:
        require_task(conn, q.task_id)
    return result


def add_console(conn: Conn, lines: Sequence[ConsoleLine]) -> list[ConsoleLine]:
    """Store the lines; each gets the next `seq` of its task (returned records carry it)."""
    if not lines:
        return []
    for line in lines:
        if line.stream not in STREAMS:
            raise ValidationError(f"task {line.task_id}: unknown console stream {line.stream!r}")
        if not isinstance(line.text, str):
            raise ValidationError(f"task {line.task_id}: console text must be a string")
    bounds.console(lines)
    task_ids = {line.task_id for line in lines}
    # The touch also locks the task rows on PostgreSQL (SQLite: the whole write is serial),
    # so two writers of one task's console cannot pick the same seq.
    touch_writable_tasks(conn, task_ids)
    next_seq = {task_id: (conn.scalar(_LAST_SEQ, {"task_id": task_id}) or 0) + 1 for task_id in task_ids}
    stored, rows = [], []
    for line in lines:
        seq = next_seq[line.task_id]
        next_seq[line.task_id] = seq + 1
        stored.append(ConsoleLine(line.task_id, line.text, line.stream, line.ts, seq))
        rows.append(
            {"task_id": line.task_id, "seq": seq, "text": line.text, "stream": line.stream, "ts": line.ts}
        )
    conn.many(_INSERT_CONSOLE, rows)
    return stored


def get_console(conn: Conn, task_id: str, *, after: int, limit: int | None) -> list[ConsoleLine]:
    bounds.page(limit, 0, what="console")
    bounds.integer(after, "console: after", 0, bounds.INT32[1])  # seq is a 32-bit column
    text = (
        "SELECT task_id, text, stream, ts, seq FROM console WHERE task_id = :task_id AND seq > :after "
        "ORDER BY seq" + conn.limit(limit)
    )
    result = [ConsoleLine(*row) for row in conn.rows(text, {"task_id": task_id, "after": after})]
    if not result:
        require_task(conn, task_id)
    return result
