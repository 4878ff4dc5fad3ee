"""Metric series: each (task, kind, title, series) has a small integer id that its chunks hold
(store/chunks.py), so no chunk carries the four strings.
"""

from __future__ import annotations

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


def delete_statements() -> tuple[str, str]:
    """What removes a task's chunks and series (parameter `id`), in that order."""
    return (
        "DELETE FROM chunks WHERE series_id IN (SELECT id FROM series WHERE task_id = :id)",
        "DELETE FROM series WHERE task_id = :id",
    )
