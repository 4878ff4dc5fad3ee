"""Chunks: the points of one metric series that one write brought, packed into one row.

A chunk holds its points' iterations as int64, their values and times as float64 (each a
little-endian array), which values were None (`nulls`, one byte per point, or NULL when none
was) and their payloads (one JSON list, or NULL when every payload was None). A batch of
100,000 scalars is then a few rows, not 100,000: packing is an `array` call per column, and a
float64 array holds NaN and +-inf exactly on both databases.

Points read back by iteration, then in the order written; within one write, the points of
one series come before those of the next series of that write (a chunk is one series).
"""

from __future__ import annotations

import json
import sys
from array import array
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any, cast

from ductwork.core.records import MetricEvent

# The record's fields and the columns that hold them (the rest are the series' four names).
FIELDS = {"iteration": "iterations", "value": "numbers", "payload": "payloads", "ts": "times"}
COLUMNS = (
    "series_id",
    "low",
    "high",
    "last_iteration",
    "last_value",
    "iterations",
    "numbers",
    "nulls",
    "times",
    "payloads",
)
INSERT = f"INSERT INTO chunks ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"
_SWAP = sys.byteorder == "big"  # stored little-endian whatever the machine


def pack(typecode: str, items: Iterable[Any]) -> bytes:
    packed = array(typecode, items)
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def unpack(typecode: str, data: bytes) -> list[Any]:
    packed = array(typecode)
    packed.frombytes(data)
    if _SWAP:
        packed.byteswap()
    return packed.tolist()


def row(
    series_id: int,
    iterations: Sequence[int],
    values: Sequence[float | None],
    times: Sequence[float],
    payloads: str | None,
    *,
    nan_is_null: bool,
) -> dict[str, Any]:
    """The chunk of one series' points (checked already: `eventbounds.event_rows`); `payloads` is
    their JSON list or None. `nan_is_null`: the database keeps a NaN bound to a float column
    as NULL (SQLite), so a NaN is never a chunk's last value there."""
    nulls = None
    try:
        numbers: array[float] = array("d", cast("Sequence[float]", values))
    except TypeError:  # a None among them (the values are checked)
        nulls = bytes(value is None for value in values)
        numbers = array("d", [0.0 if value is None else value for value in values])
    high = max(iterations)
    if nulls is None and not (nan_is_null and _has_nan(numbers)):
        # the common case: every point has a value, so the last is the last at the highest
        at = len(iterations) - 1 - iterations[::-1].index(high)
        last: tuple[int | None, float | None] = (high, numbers[at])
    else:
        last = _last(iterations, numbers, nulls, nan_is_null)
    if _SWAP:
        numbers.byteswap()
    return {
        "series_id": series_id,
        "low": min(iterations),
        "high": high,
        "last_iteration": last[0],
        "last_value": last[1],
        "iterations": pack("q", iterations),
        "numbers": numbers.tobytes(),
        "nulls": nulls,
        "times": pack("d", times),
        "payloads": payloads,
    }


def _has_nan(numbers: array[float]) -> bool:
    # A NaN makes the sum NaN (so does inf + -inf: then the slow path merely looks closer).
    total = sum(numbers)
    return total != total


def _last(
    iterations: Sequence[int], numbers: array[float], nulls: bytes | None, nan_is_null: bool
) -> tuple[int | None, float | None]:
    """The chunk's last value: of the points with a value, the last one written at the highest
    iteration (what the runs list shows as the series' value)."""
    found: tuple[int | None, float | None] = (None, None)
    for iteration, value, null in zip(iterations, numbers, nulls or repeat(0), strict=False):
        if null or (nan_is_null and value != value):
            continue
        if found[0] is None or iteration >= found[0]:
            found = (iteration, value)
    return found


def events(
    names: tuple[str, str, str, str],
    chunk: tuple[bytes, bytes, bytes | None, bytes, Any],
    *,
    json_text: bool,
) -> list[MetricEvent]:
    """The points of one chunk as events of the series `names` (task id, kind, title, series);
    `json_text`: the payloads column comes back as JSON text (SQLite), not decoded (jsonb)."""
    iterations, numbers, nulls, times, payloads = chunk
    values: list[float | None] = unpack("d", numbers)
    if nulls is not None:
        values = [None if null else value for value, null in zip(values, nulls, strict=True)]
    if payloads is None:
        payloads = repeat(None)
    elif json_text:
        payloads = json.loads(payloads)
    task_id, kind, title, series = names
    return list(
        map(
            MetricEvent,
            repeat(task_id),
            repeat(kind),
            repeat(title),
            repeat(series),
            unpack("q", iterations),
            values,
            payloads,
            unpack("d", times),
        )
    )
