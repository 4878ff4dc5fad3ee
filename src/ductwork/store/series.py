"""Metric series: each (task, kind, title, series) has a small integer id that its event rows hold.

A point is then a short row (series id, iteration, value, payload, ts) under a short index,
which is what lets SQLite take scalars at twice the rate of rows carrying the four strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

from ductwork.store.sql import Columns, Conn, in_list

Key = tuple[str, str, str, str]
KEY = itemgetter(0, 1, 2, 3)  # a row of MetricEvent fields -> its series
_INSERT = Columns("series", ("task_id", "kind", "title", "series")).insert() + (
    " ON CONFLICT (task_id, kind, title, series) DO NOTHING"
)


def ids(conn: Conn, keys: set[Key]) -> dict[Key, int]:
    """The id of each series in `keys`, created when missing. The callers have locked the tasks
    (`touch_writable_tasks`), so two writers of one task cannot race here."""
    params: dict[str, Any] = {}
    among = in_list("task", sorted({key[0] for key in keys}), params)
    text = f"SELECT task_id, kind, title, series, id FROM series WHERE task_id IN {among}"
    found = {row[:4]: row[4] for row in conn.rows(text, params)}
    missing = keys - found.keys()
    if missing:
        fields = ("task_id", "kind", "title", "series")
        conn.many(_INSERT, [dict(zip(fields, key, strict=True)) for key in sorted(missing)])
        found = {row[:4]: row[4] for row in conn.rows(text, params)}
    return found


def event_rows(rows: Sequence[tuple[Any, ...]], known: dict[Key, int]) -> list[tuple[Any, ...]]:
    """Rows of MetricEvent fields as rows of the events table: (series id, iteration, value,
    payload, ts). A batch of one series (the common case) is rebuilt column-wise in C."""
    keys = set(map(KEY, rows))
    if len(keys) == 1:
        _, _, _, _, iterations, values, payloads, times = zip(*rows, strict=True)
        return list(zip(repeat(known[next(iter(keys))]), iterations, values, payloads, times))
    return [(known[key], *row[4:]) for key, row in zip(map(KEY, rows), rows, strict=True)]


def sqlite_insert(series_id: int) -> str:
    """The INSERT of one series' points (iteration, value, payload, ts): the series id is in
    the text (an int from the series table), so no row carries it. sqlite3 caches the statement."""
    return (
        f"INSERT INTO events (series_id, iteration, value, payload, ts) VALUES ({int(series_id)}, ?, ?, ?, ?)"
    )


def delete_statements() -> tuple[str, str]:
    """What removes a task's events and series (parameter `id`), in that order."""
    return (
        "DELETE FROM events WHERE series_id IN (SELECT id FROM series WHERE task_id = :id)",
        "DELETE FROM series WHERE task_id = :id",
    )
