"""Persistence: plain SQL over DB-API (sqlite3, psycopg 3), queue claims, migrations.

`from ductwork.store import Store` is the way in. The queries never import SQLAlchemy: it and
Alembic are imported only to migrate a database whose schema is not the current one (a new
SQLite database is made from the frozen head, `migrations/head.sqlite.sql`).

    store.py      Store: every Backend method, plus changes_since and users / API keys
    engine.py     Database: pooled DB-API connections, SQLite (WAL, BEGIN IMMEDIATE writes) or PostgreSQL
    sql.py        Conn: `:name` queries on either driver, JSON/boolean codecs, the dialect differences
    tables.py     the schema (SQLAlchemy Core); migrations/ holds the one Alembic chain that creates it
    schema.py     the columns as plain data (kinds, bounds, codecs), derived from tables.py by a test
    migrate.py    ensure_current (on open, ~1 ms when current; a new SQLite database from the frozen
                  head), upgrade(url) for the CLI
    projects.py, tasks.py, params.py, artifacts.py, models.py, events.py, nodes.py,
    queues.py (entries, claims, workers), accounts.py, changes.py: one module per resource
    series.py, chunks.py   a metric series' id, and its points packed a chunk per write
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ductwork.store.store import Store

__all__ = ["Store"]


def __getattr__(name: str) -> Any:
    if name == "Store":
        from ductwork.store.store import Store

        return Store
    raise AttributeError(f"module 'ductwork.store' has no attribute {name!r}")
