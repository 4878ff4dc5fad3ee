"""Metric events (packed by series: store/chunks.py) and console lines, written in batches."""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence
from operator import attrgetter, itemgetter
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.core.queries import EventQuery
from ductwork.core.records import ConsoleLine, MetricEvent
from ductwork.store import bounds, chunks, eventbounds, series
from ductwork.store.common import require_task, touch_writable_tasks
from ductwork.store.sql import Conn, in_list

KINDS = frozenset({"scalar", "single", "plot", "table", "text", "image", "histogram"})
STREAMS = frozenset({"stdout", "stderr", "ductwork"})
_INSERT_CONSOLE = (
    "INSERT INTO console (task_id, seq, text, stream, ts) VALUES (:task_id, :seq, :text, :stream, :ts)"
)
_LAST_SEQ = "SELECT MAX(seq) FROM console WHERE task_id = :task_id"
_ITERATION = attrgetter("iteration")
_CHUNK_ID = itemgetter(0)
_NONE = type(None)


def add_events(conn: Conn, batch: Sequence[MetricEvent]) -> None:
    if not batch:
        return
    try:
        rows = list(map(eventbounds.EVENT_ROW, batch))
    except AttributeError:
        eventbounds.events(batch, conn.dialect)  # names the record that is not an event
        raise
    add_event_rows(conn, rows)


def add_event_rows(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    """`add_events` on rows (the fields of MetricEvent in order), checked the same way. Each
    series of the batch becomes one chunk (store/chunks.py): the bulk path (100,000s of points
    per run) writes a few packed rows, not a row per point."""
    if not rows:
        return
    columns = eventbounds.event_rows(rows, conn.dialect)
    # Whole-batch passes in C over the columns (sets, maps) rather than per-event Python.
    task_ids, kinds, titles, names = columns[:4]
    unknown = eventbounds.distinct(kinds) - KINDS
    if unknown:
        raise ValidationError(f"unknown event kind {sorted(unknown)[0]!r}; one of {sorted(KINDS)}")
    tasks = eventbounds.distinct(task_ids)
    touch_writable_tasks(conn, tasks)
    if len(tasks) == 1 and all(len(eventbounds.distinct(column)) == 1 for column in (kinds, titles, names)):
        by_series = {(task_ids[0], kinds[0], titles[0], names[0]): columns[4:]}
    else:
        by_series = _by_series(rows, columns)
    known = series.ids(conn, set(by_series))
    nan_is_null = not conn.pg
    packed = [
        chunks.row(known[key], its, values, times, _payloads(key, payloads), nan_is_null=nan_is_null)
        for key, (its, values, payloads, times) in by_series.items()
    ]
    conn.many(chunks.INSERT, packed)


def _by_series(rows: list[tuple[Any, ...]], columns: list[tuple[Any, ...]]) -> dict[series.Key, Any]:
    """The columns (iterations, values, payloads, times) of each series' points, the series in
    the order the batch first names them."""
    keys = list(zip(*columns[:4], strict=True))
    period = _period(keys)
    if period:  # the same series in the same order again and again: every period-th point
        return {keys[k]: [column[k::period] for column in columns[4:]] for k in range(period)}
    grouped: dict[series.Key, list[tuple[Any, ...]]] = {}
    for key, row in zip(keys, rows, strict=True):
        points = grouped.get(key)
        if points is None:
            grouped[key] = points = []
        points.append(row)
    return {key: list(zip(*points, strict=True))[4:] for key, points in grouped.items()}


def _period(keys: list[series.Key]) -> int:
    """p when the batch names p distinct series in turn (a loop reporting the same metrics
    each step), else 0; the comparisons run in C."""
    try:
        period = keys.index(keys[0], 1)
    except ValueError:
        return 0
    if keys[period:] != keys[:-period] or len(set(keys[:period])) != period:
        return 0
    return period


def _payloads(key: series.Key, payloads: Sequence[Any]) -> str | None:
    """The JSON list of a chunk's payloads; None when no point has one (scalars)."""
    if not set(map(type, payloads)) - {_NONE}:  # by type: a payload's == may be elementwise
        return None
    try:
        return json.dumps(list(payloads))
    except (TypeError, ValueError) as error:
        task_id, kind, title, name = key
        raise ValidationError(
            f"task {task_id}: {kind} event {title!r}/{name!r} has a payload JSON cannot hold: {error}"
        ) from error


_POINTS = (
    "SELECT c.id, s.task_id, s.kind, s.title, s.series, c.iterations, c.numbers, c.nulls, c.times, c.payloads"
)
_FROM = " FROM chunks c JOIN series s ON s.id = c.series_id"
_FETCH = 1000  # chunk ids in one IN list


def get_events(conn: Conn, q: EventQuery) -> list[MetricEvent]:
    """The events `q` asks for, by iteration, then in the order written."""
    bounds.page(q.limit, 0, what="event query")
    after = q.after_iteration
    if after is not None:
        bounds.integer(after, "event query: after_iteration")
    where, params = _FROM + " WHERE s.task_id = :task_id", dict[str, Any](task_id=q.task_id)
    for name, value in (("kind", q.kind), ("title", q.title), ("series", q.series)):
        if value is not None:
            where += f" AND s.{name} = :{name}"
            params[name] = value
    if after is not None:
        where += " AND c.high > :after"
        params["after"] = after
    if q.limit is None:
        rows = conn.rows(_POINTS + where + " ORDER BY c.id", params)
    else:
        rows = sorted(_first_chunks(conn, where, params, q.limit, after), key=_CHUNK_ID)
    result: list[MetricEvent] = []
    for row in rows:
        result += chunks.events(row[1:5], row[5:], json_text=not conn.pg)
    if after is not None:
        result = [event for event in result if event.iteration > after]
    result.sort(key=_ITERATION)  # stable: points of one iteration stay in the order written
    if q.limit is not None:
        del result[q.limit :]
    if not result:
        require_task(conn, q.task_id)
    return result


def _first_chunks(
    conn: Conn, where: str, params: dict[str, Any], limit: int, after: int | None
) -> list[tuple[Any, ...]]:
    """The chunks that hold the first `limit` points (by iteration), not every chunk: taken in
    order of their lowest iteration until none left can hold a point before the limit-th."""
    found = conn.rows(
        "SELECT c.id, c.low, length(c.iterations) / 8" + where + " ORDER BY c.low, c.id", params
    )
    rows: list[tuple[Any, ...]] = []
    iterations: list[int] = []
    start = 0
    while start < len(found) and limit > 0:
        end = start
        if len(iterations) >= limit:  # enough: only a chunk starting at or below the limit-th may matter
            cut = heapq.nsmallest(limit, iterations)[-1]
            while end < len(found) and found[end][1] <= cut:
                end += 1
            if end == start:
                break
        else:  # too few: chunks enough to make up the rest
            count = len(iterations)
            while end < len(found) and count < limit:
                count += found[end][2]
                end += 1
        fetched = _fetch(conn, [chunk[0] for chunk in found[start:end]])
        rows += fetched
        for row in fetched:
            iterations += [i for i in chunks.unpack("q", row[5]) if after is None or i > after]
        start = end
    return rows


def _fetch(conn: Conn, ids: list[int]) -> list[tuple[Any, ...]]:
    rows = []
    for start in range(0, len(ids), _FETCH):
        params: dict[str, Any] = {}
        among = in_list("chunk", ids[start : start + _FETCH], params)
        rows += conn.rows(f"{_POINTS}{_FROM} WHERE c.id IN {among}", params)
    return rows


def add_console(conn: Conn, lines: Sequence[ConsoleLine]) -> list[ConsoleLine]:
    """Store the lines; each gets the next `seq` of its task (returned records carry it)."""
    if not lines:
        return []
    for line in lines:
        if line.stream not in STREAMS:
            raise ValidationError(f"task {line.task_id}: unknown console stream {line.stream!r}")
        if not isinstance(line.text, str):
            raise ValidationError(f"task {line.task_id}: console text must be a string")
    eventbounds.console(lines)
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
