"""Schema versions: one Alembic chain for SQLite and PostgreSQL, applied on first use.

Opening a store costs one plain `SELECT version_num FROM alembic_version` (on the DB-API
connection, no SQLAlchemy) when the schema is current; SQLAlchemy and Alembic are imported
only when a migration has to run. Concurrent first uses are safe: the migration runs inside
one write transaction (`BEGIN IMMEDIATE` on SQLite, plus a transaction-level advisory lock on
PostgreSQL), and Alembic reads the current version inside it, so the second process finds the
work already done.

A SQLite database with no schema at all (a new file, an in-memory database) skips the chain:
`migrations/head.sqlite.sql` holds the schema at HEAD as the chain leaves it on SQLite (each
`sqlite_master` statement in creation order, then the version row), run statement by statement
in one `BEGIN IMMEDIATE` transaction, so a first run imports neither SQLAlchemy nor Alembic (a
tenth of the time) and later migrations go on from HEAD. The file is made by the chain itself:
after adding a migration, regenerate it with `PYTHONPATH=src python -m ductwork.store.migrate`
from the repository root (a test fails until it matches). `upgrade` (`ductwork db upgrade`)
always runs the chain.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ductwork.core.errors import StorageError
from ductwork.store.engine import Database, is_driver_error

# The newest revision in migrations/versions; a test keeps the two in step.
HEAD = "0008"
MIGRATIONS = Path(__file__).with_name("migrations")
# The schema at HEAD on SQLite, frozen from the chain by `freeze()`; a test keeps it in step.
FROZEN = MIGRATIONS / "head.sqlite.sql"
REGENERATE = "PYTHONPATH=src python -m ductwork.store.migrate"  # from the repository root
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
        if db.dialect == "sqlite" and _create_fresh(db):
            return
        _upgrade(db)


def _create_fresh(db: Database) -> bool:
    """The schema at HEAD from the frozen script, when the SQLite database has none at all; False
    when it has one at another revision (the chain's to migrate). One write transaction: a
    failure leaves the database empty, and a process that waited for the lock finds it done."""
    script = list(statements(FROZEN.read_text(encoding="utf-8")))
    with db.write() as conn:
        names = {row[0] for row in conn.rows("SELECT name FROM sqlite_master")}
        if names:  # made meanwhile by another process (then at HEAD), or older
            versioned = "alembic_version" in names
            return versioned and conn.scalar("SELECT version_num FROM alembic_version") == HEAD
        for statement in script:
            # One at a time on our transaction: sqlite3's executescript would COMMIT it first.
            conn.execute(statement).close()
    return True


def statements(script: str) -> Iterator[str]:
    """The statements of a SQL script, one each (a trigger's body included); `--` lines between
    statements are left out."""
    pending = ""
    for line in script.splitlines(keepends=True):
        if not pending and (not line.strip() or line.startswith("--")):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"the SQL script ends inside a statement: {pending.strip()[:80]!r}")


def freeze() -> str:
    """The text of `FROZEN`: the chain run on a new in-memory SQLite database, read back."""
    db = Database("sqlite://")
    try:
        _upgrade(db)
        with db.read() as conn:
            # SQLite's own entries (a table's automatic indexes) have no statement: made with it.
            schema = conn.rows("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
            version = conn.scalar("SELECT version_num FROM alembic_version")
            tables = [row[0] for row in conn.rows("SELECT name FROM sqlite_master WHERE type = 'table'")]
            filled = [t for t in tables if conn.first(f'SELECT 1 FROM "{t}" LIMIT 1') is not None]
    finally:
        db.dispose()
    if version != HEAD or filled != ["alembic_version"]:  # a migration that adds rows: extend this
        raise RuntimeError(
            f"the chain ends at {version} (HEAD is {HEAD}) with rows in {filled}: the frozen script "
            "holds the schema and the version row only"
        )
    head = (
        f"-- The store's schema at revision {HEAD} on SQLite, as the migration chain leaves it: the\n"
        "-- statements of sqlite_master in creation order, then the version row. A new database is\n"
        "-- made from it (migrate.py). Generated, do not edit; after adding a migration, run from\n"
        f"-- the repository root: {REGENERATE}\n"
    )
    body = "".join(f"\n{sql};\n" for (sql,) in schema)
    return f"{head}{body}\nINSERT INTO alembic_version (version_num) VALUES ('{HEAD}');\n"


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


if __name__ == "__main__":
    FROZEN.write_text(freeze(), encoding="utf-8")
    print(f"wrote {FROZEN}", file=sys.stderr)
