"""Schema versions: one Alembic chain for SQLite and PostgreSQL, applied on first use.

Opening a store costs one plain `SELECT version_num FROM alembic_version` (on the DB-API
connection, no SQLAlchemy) when the schema is current; SQLAlchemy and Alembic are imported
only when a migration has to run. Concurrent first uses are safe: the migration runs inside
one write transaction (`BEGIN IMMEDIATE` on SQLite, plus a transaction-level advisory lock on
PostgreSQL), and Alembic reads the current version inside it, so the second process finds the
work already done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ductwork.core.errors import StorageError
from ductwork.store.engine import Database, is_driver_error

# The newest revision in migrations/versions; a test keeps the two in step.
HEAD = "0008"
MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same in every process.
_ADVISORY_LOCK = 0x6475637477  # "ductw"


def current(db: Database) -> str | None:
    """The schema revision of the database, None when it has none yet (or cannot be read:
    the upgrade that follows then reports why, under the write lock)."""
    try:
        with db.connection() as raw:
            try:
                row = raw.execute("SELECT version_num FROM alembic_version").fetchone()
            finally:
                raw.rollback()
    except Exception as error:
        if not is_driver_error(error):
            raise
        return None
    return None if row is None else str(row[0])


def ensure_current(db: Database) -> None:
    """Bring the schema to HEAD unless it is there already (the ~1 ms common case)."""
    if current(db) == HEAD:
        return
    with db.storage_errors():
        _upgrade(db)


def upgrade(url: str) -> str:
    """Migrate the database at `url` to the newest revision (`ductwork db upgrade`); returns it."""
    db = Database(url)
    try:
        with db.storage_errors():
            _upgrade(db)
        return current(db) or ""
    finally:
        db.dispose()


def _upgrade(db: Database) -> None:
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = _engine(db)
    try:
        with _sqlalchemy_errors(), engine.begin() as conn:
            if db.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
            # env.py runs the migrations on this connection, inside this transaction.
            config.attributes["connection"] = conn
            try:
                command.upgrade(config, "head")
            except CommandError as error:
                # Typically a database written by a newer ductwork (a revision this one does not know).
                raise StorageError(
                    f"cannot migrate the store at {db.where} to revision {HEAD}: {error}; "
                    "is it used by a newer ductwork?"
                ) from error
    finally:
        if not db.in_memory:  # StaticPool would close the one connection of the database
            engine.dispose()


def _engine(db: Database) -> Any:
    """A SQLAlchemy engine over the database's own DB-API connections (same pragmas, same
    in-memory database), whose transactions begin `BEGIN IMMEDIATE` on SQLite."""
    import sqlalchemy as sa
    from sqlalchemy import event, pool

    if db.dialect == "sqlite":
        shared = db.in_memory
        engine = sa.create_engine(
            "sqlite://",
            creator=db.new_connection,
            poolclass=pool.StaticPool if shared else pool.NullPool,
        )

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine("postgresql+psycopg://", creator=db.new_connection, poolclass=pool.NullPool)


@contextmanager
def _sqlalchemy_errors() -> Iterator[None]:
    """SQLAlchemy's wrapper off a driver error, so `storage_errors` sees the driver's own."""
    try:
        yield
    except Exception as error:
        orig = getattr(error, "orig", None)
        if isinstance(orig, Exception) and type(error).__module__.startswith("sqlalchemy"):
            raise orig from error
        raise
