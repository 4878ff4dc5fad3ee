"""Persistence: SQLAlchemy Core tables, engine, queries, queue claims, migrations.

`from ductwork.store import Store` is the way in; SQLAlchemy is imported on that first use,
not when the package itself is imported.

    store.py      Store: every Backend method, plus changes_since and users / API keys
    engine.py     Database: SQLite (WAL, BEGIN IMMEDIATE writes) or pooled PostgreSQL
    tables.py     the schema; migrations/ holds the one Alembic chain that creates it
    migrate.py    ensure_current (on open, ~1 ms when current), upgrade(url) for the CLI
    projects.py, tasks.py, params.py, artifacts.py, models.py, events.py, nodes.py,
    queues.py (entries, claims, workers), accounts.py, changes.py: one module per resource
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
