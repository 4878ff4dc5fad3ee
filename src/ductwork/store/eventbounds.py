"""The bounds of a whole batch of metric events or console lines (`events.py` writes them), in
passes over its columns: a run reports 100,000s of points, so a batch is checked with
whole-column passes in C first, and walked record by record only when one of them fails, so
that the first bad field is named (`bounds.check_record`, `bounds.value_fits`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.core.records import ConsoleLine, MetricEvent
from ductwork.store.bounds import INT64, MAX_TEXT, Column, check_record, json_value, short, value_fits


def events(batch: Sequence[MetricEvent], dialect: str = "") -> None:
    """A batch of MetricEvents fits the events table. The bulk path (100,000s of points per
    run) is checked with whole-batch passes in C; only a batch that fails one of them is
    walked event by event, to name the first bad field."""
    try:
        rows: Sequence[tuple[Any, ...]] | None = list(map(EVENT_ROW, batch))
    except AttributeError:
        rows = None
    columns = None if rows is None else _columns(rows)
    if columns is not None and _events_fit(columns, dialect):
        return
    for i, event in enumerate(batch):
        where = f"metric event {i} (task {short(getattr(event, 'task_id', None), 40)})"
        check_record("series", event, where, dialect=dialect)
        _check_point(event, where, dialect)


def event_rows(rows: Sequence[tuple[Any, ...]], dialect: str = "") -> list[tuple[Any, ...]]:
    """`events` on rows: the fields of MetricEvent in order (the SDK's bulk path hands these
    to an embedded store as they were queued, without a record per point). Returns the batch's
    columns (task ids, kinds, ... times), which the caller's own passes reuse."""
    if not set(map(type, rows)) - {tuple}:
        columns = _columns(rows)
        if columns is not None and _events_fit(columns, dialect):
            return columns
    for i, row in enumerate(rows):
        if type(row) is not tuple or len(row) != len(_EVENT_FIELDS):
            raise ValidationError(
                f"metric event {i}: a row of the {len(_EVENT_FIELDS)} fields {_EVENT_FIELDS}"
            )
        where = f"metric event {i} (task {short(row[0], 40)})"
        check_record("series", MetricEvent(*row), where, dialect=dialect)
        _check_point(MetricEvent(*row), where, dialect)
    return list(zip(*rows, strict=True))


# A point's own fields, which its chunk packs (store/chunks.py): what each may hold.
_POINT = (
    Column("iteration", "int", False, *INT64),
    Column("value", "float", True, finite=False),
    Column("payload", "json", True, codec="json"),
    Column("ts", "float", False),
)


def _check_point(event: object, where: str, dialect: str) -> None:
    for column in _POINT:
        if hasattr(event, column.name):
            value_fits(column, getattr(event, column.name), f"{where}: {column.name}", dialect)


def _columns(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]] | None:
    try:
        columns = list(zip(*rows, strict=True))
    except ValueError:
        return None
    return columns if len(columns) == len(_EVENT_FIELDS) else None


_EVENT_FIELDS = ("task_id", "kind", "title", "series", "iteration", "value", "payload", "ts")
EVENT_ROW = attrgetter(*_EVENT_FIELDS)  # a MetricEvent as a row
_CONSOLE_COLUMNS = attrgetter("task_id", "text", "ts")
_NONE = type(None)


def distinct(column: Sequence[Any]) -> set[Any]:
    """The distinct values of a batch's column. A batch is mostly one series, its names the
    same objects: one `count` (identity first, in C) answers that without hashing each."""
    if column and column.count(column[0]) == len(column):
        return {column[0]}
    return set(column)


def _events_fit(columns: Sequence[tuple[Any, ...]], dialect: str) -> bool:
    try:
        # Columns of the batch, each pass in C (set, count, min, max, sum, join): the check costs
        # a fraction of what building the rows costs.
        task_ids, kinds, titles, series, iterations, values, payloads, times = columns
        # distinct names first: a batch holds a few series, and equal strings fit alike (a
        # kind is a name too; the caller compares it with the kinds there are)
        names = distinct(kinds) | distinct(titles) | distinct(series)
        if set(map(type, names)) - {str} or max(map(len, names)) > 512 or "\x00" in "".join(names):
            return False
        if not all(map(_id_fits, distinct(task_ids))):
            return False
        if set(map(type, iterations)) - {int} or min(iterations) < INT64[0] or max(iterations) > INT64[1]:
            return False
        if set(map(type, values)) - {float, _NONE} and not all(map(_float_fits, values)):
            return False
        # A NaN or an infinity makes the sum NaN or infinite (a finite sum can only come from
        # finite times); a sum that overflows merely sends the batch to the walk.
        if not math.isfinite(sum(times)):
            return False
        if set(map(type, payloads)) - {_NONE}:  # by type: a payload's == may be elementwise (numpy)
            for payload in payloads:
                if payload is not None:
                    json_value(payload, "payload", finite=dialect == "postgresql")
    except (TypeError, OverflowError, ValueError, AttributeError):
        return False  # the walk names the field
    return True


def _id_fits(task_id: Any) -> bool:
    return isinstance(task_id, str) and len(task_id) <= 32 and "\x00" not in task_id


def _float_fits(value: Any) -> bool:
    if value is None or isinstance(value, float):
        return True
    return isinstance(value, int) and not isinstance(value, bool) and INT64[0] <= value <= INT64[1]


def console(lines: Sequence[ConsoleLine]) -> None:
    """A batch of ConsoleLines fits the console table (whole-batch passes first, as `events`)."""
    try:
        task_ids, texts, times = zip(*map(_CONSOLE_COLUMNS, lines), strict=True)
        if (
            not set(map(type, texts)) - {str}
            and max(map(len, texts)) <= MAX_TEXT
            and "\x00" not in "".join(texts)
            and all(map(_id_fits, set(task_ids)))
            and all(map(math.isfinite, times))
        ):
            return
    except (TypeError, OverflowError, ValueError, AttributeError):
        pass
    for i, line in enumerate(lines):
        where = f"console line {i} (task {short(getattr(line, 'task_id', None), 40)})"
        check_record("console", line, where)
