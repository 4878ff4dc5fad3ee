"""events in chunks

Revision ID: 0005
Revises: 0004
The points of one series that one write brought become one row of `chunks`: iterations as an
int64 array, values and times as float64 arrays (little-endian), a byte per point saying its
value was None, the payloads as one JSON list, the chunk's lowest and highest iteration and its
last value.
A batch of scalars is then a few rows rather than one per point (store/chunks.py).

Existing events move in the order they were written: each run of consecutive rows of one series
becomes a chunk, so they read back in the same order (by iteration, then as written). A NaN that
SQLite held as a NULL value with the payload NaN becomes a NaN value again. A chunk's row is
written out here rather than imported, so this revision keeps meaning what it meant (only the
packing of an array, `chunks.pack`/`unpack`, is shared).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ductwork.store.chunks import pack, unpack

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PAGE = 50_000  # event rows read at a time


# JSONB on PostgreSQL, JSON text on SQLite; None is stored as SQL NULL.
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _keys(table: str) -> tuple[Any, ...]:
    """A points table's id and series id (both layouts have them)."""
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    return (
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )


def _insert(table: sa.Table, sqlite: bool) -> sa.TextClause:
    """The INSERT of a row of `table` but its id (its JSON column cast to jsonb on PostgreSQL)."""
    names = [column.name for column in table.columns if column.name != "id"]
    values = [f":{n}" if sqlite or not n.startswith("payload") else f"CAST(:{n} AS jsonb)" for n in names]
    return sa.text(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(values)})")


def upgrade() -> None:
    table = op.create_table(
        "chunks",
        *_keys("chunks"),
        sa.Column("low", sa.BigInteger(), nullable=False),
        sa.Column("high", sa.BigInteger(), nullable=False),
        sa.Column("last_iteration", sa.BigInteger(), nullable=True),
        sa.Column("last_value", sa.Float(precision=53), nullable=True),
        sa.Column("iterations", sa.LargeBinary(), nullable=False),
        sa.Column("numbers", sa.LargeBinary(), nullable=False),
        sa.Column("nulls", sa.LargeBinary(), nullable=True),
        sa.Column("times", sa.LargeBinary(), nullable=False),
        sa.Column("payloads", JSON, nullable=True),
    )
    op.create_index(op.f("ix_chunks_series_id_last_iteration"), "chunks", ["series_id", "last_iteration"])
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    insert = _insert(table, sqlite)
    run: list[tuple[Any, ...]] = []
    for row in _event_rows(bind, sqlite):
        if run and row[0] != run[-1][0]:
            bind.execute(insert, _chunk(run, sqlite))
            run = []
        run.append(row)
    if run:
        bind.execute(insert, _chunk(run, sqlite))
    op.drop_table("events")


def _event_rows(bind: sa.Connection, sqlite: bool) -> Iterator[tuple[Any, ...]]:
    """(series id, iteration, value, payload, ts) of every event in the order written; a NaN
    SQLite held as NULL with the payload NaN comes back as the value NaN."""
    after = -1
    while True:
        page = bind.execute(
            sa.text(
                "SELECT id, series_id, iteration, value, payload, ts FROM events WHERE id > :after "
                "ORDER BY id LIMIT :page"
            ),
            {"after": after, "page": _PAGE},
        ).all()
        for _, series_id, iteration, value, payload, ts in page:
            if sqlite and payload is not None:
                payload = json.loads(payload)
                if value is None and isinstance(payload, float) and math.isnan(payload):
                    value, payload = payload, None
            yield series_id, iteration, value, payload, ts
        if len(page) < _PAGE:
            return
        after = page[-1][0]


def _chunk(run: list[tuple[Any, ...]], sqlite: bool) -> dict[str, Any]:
    """A run of one series' rows as its chunk, as store/chunks.py packed one at this revision."""
    _, iterations, values, payloads, times = (list(column) for column in zip(*run, strict=True))
    last: tuple[int | None, float | None] = (None, None)
    for iteration, value in zip(iterations, values, strict=True):
        if value is None or (sqlite and math.isnan(value)):
            continue  # SQLite would keep a NaN last value as NULL
        if last[0] is None or iteration >= last[0]:
            last = (iteration, float(value))
    missing = [value is None for value in values]
    return {
        "series_id": run[0][0],
        "low": min(iterations),
        "high": max(iterations),
        "last_iteration": last[0],
        "last_value": last[1],
        "iterations": pack("q", iterations),
        "numbers": pack("d", [0.0 if value is None else value for value in values]),
        "nulls": bytes(missing) if any(missing) else None,
        "times": pack("d", times),
        "payloads": None if all(p is None for p in payloads) else json.dumps(payloads),
    }


def downgrade() -> None:
    table = op.create_table(
        "events",
        *_keys("events"),
        sa.Column("iteration", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("payload", JSON, nullable=True),
        sa.Column("ts", sa.Float(precision=53), nullable=False),
    )
    op.create_index(op.f("ix_events_series_id_iteration"), "events", ["series_id", "iteration"])
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    insert = _insert(table, sqlite)
    after = -1
    while True:
        page = bind.execute(
            sa.text(
                "SELECT id, series_id, iterations, numbers, nulls, times, payloads FROM chunks "
                "WHERE id > :after ORDER BY id LIMIT 1000"
            ),
            {"after": after},
        ).all()
        for chunk in page:
            bind.execute(insert, _rows(chunk[1:], sqlite))
        if len(page) < 1000:
            break
        after = page[-1][0]
    op.drop_table("chunks")


def _rows(chunk: tuple[Any, ...], sqlite: bool) -> list[dict[str, Any]]:
    """A chunk's points as 0004's event rows (on SQLite a NaN was a NULL value, payload NaN)."""
    series_id, iterations, numbers, nulls, times, payloads = chunk
    values: list[float | None] = unpack("d", numbers)
    if nulls is not None:
        values = [None if null else value for value, null in zip(values, nulls, strict=True)]
    if payloads is None:
        payloads = [None] * len(values)
    elif sqlite:
        payloads = json.loads(payloads)
    rows = []
    points = zip(unpack("q", iterations), values, payloads, unpack("d", times), strict=True)
    for iteration, value, payload, ts in points:
        if sqlite and value is not None and math.isnan(value):
            value, payload = None, math.nan
        text = None if payload is None else json.dumps(payload)
        rows.append(
            {"series_id": series_id, "iteration": iteration, "value": value, "payload": text, "ts": ts}
        )
    return rows
