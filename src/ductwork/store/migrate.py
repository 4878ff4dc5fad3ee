"""Schema versions: one Alembic chain for SQLite and PostgreSQL, applied on first use.

Opening a store costs one plain `SELECT version_num FROM alembic_version` when the schema
is current; Alembic itself is imported only when a migration has to run. Concurrent first
uses are safe: the migration runs inside one write transaction (`BEGIN IMMEDIATE` on
SQLite, plus a transaction-level advisory lock on PostgreSQL), and Alembic reads the
current version inside it, so the second process finds the work already done.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc

from ductwork.core.errors import StorageError
from ductwork.store.engine import Database

# The newest revision in migrations/versions; a test keeps the two in step.
HEAD = "0003"
MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same in every process.
_ADVISORY_LOCK = 0x6475637477  # "ductw"


def current(db: Database) -> str | None:
    """The schema revision of the database, None when it has none yet."""
    try:
        with db.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except exc.DBAPIError:  # no version table yet (or an unreadable database: upgrade reports it)
        return None


def ensure_current(db: Database) -> None:
    """Bring the schema to HEAD unless it is there already (the ~1 ms common case)."""
    with db.storage_errors():
        if current(db) == HEAD:
            return
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
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.write() as conn:
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
