"""Persistence: SQLAlchemy Core tables, engine, queries, queue claims, migrations.

`from ductwork.store import Store` is the way in; SQLAlchemy is imported on that first use,
not when the package itself is imported.
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
