"""One database connection setup per URL: SQLite tuned for many writers, PostgreSQL pooled.

SQLite: WAL (readers never block the writer), `synchronous=NORMAL` (durable at checkpoints,
no fsync per commit), foreign keys on, a 30 s busy timeout, and every write transaction
opened with `BEGIN IMMEDIATE`. Taking the write lock up front is what keeps several
processes from failing with "database is locked": a deferred transaction that reads first
and writes later cannot wait for the lock (SQLite would deadlock), so it fails at once;
an immediate one simply waits its turn in the busy handler. Reads open a plain deferred
`BEGIN`, which in WAL mode is a consistent snapshot that never waits.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc, pool

from ductwork.core.display import mask_secrets
from ductwork.core.errors import StorageError, ValidationError

BUSY_TIMEOUT_S = 30.0
_WRITE = "ductwork_write"

# Databases open in this process, so a forked child (a fork-server step, an agent) can
# drop the connections and locks it inherited: the parent's connections belong to the
# parent, and a lock some other parent thread held at the fork would never be released.
_open: weakref.WeakSet[Database] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for db in list(_open):
        db.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Database:
    """An engine plus the two ways in: `write()` and `read()` transactions."""

    def __init__(self, url: str) -> None:
        try:
            self.url = sa.make_url(url)
        except (exc.ArgumentError, ValueError):
            # Not quoted, and `from None`: a URL that does not parse cannot be masked reliably,
            # and the parser's own message and traceback may quote it whole.
            raise StorageError(
                "cannot read the database URL: use sqlite:///PATH or "
                "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
            ) from None
        self.dialect = self.url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StorageError(
                f"unsupported database URL {self.url!r}: use sqlite:/// or postgresql+psycopg://"
            )
        self.where = _describe(self.url)
        try:
            self.engine = _sqlite_engine(self.url) if self.dialect == "sqlite" else _postgres_engine(self.url)
        except (exc.ArgumentError, TypeError, ValueError) as error:
            raise StorageError(f"cannot open the store at {self.where}: {mask_secrets(error)}") from None
        self._writer = self.engine.execution_options(**{_WRITE: True})
        # SQLite has one writer at a time and its busy handler waits by sleeping (1, 2, 5, 10 ms
        # ...), so threads of this process queue here instead: a hand-off takes microseconds.
        # An in-memory database is one connection shared by every thread, so there reads
        # take turns too; files and PostgreSQL give each thread its own connection.
        self._in_memory = self.dialect == "sqlite" and sqlite_path(self.url) is None
        self._make_turns()
        _open.add(self)

    def _make_turns(self) -> None:
        turn: AbstractContextManager[Any] = threading.RLock() if self.dialect == "sqlite" else nullcontext()
        self._write_turn = turn
        self._read_turn = turn if self._in_memory else nullcontext()

    def after_fork(self) -> None:
        """In a forked child: new locks, and new connections on first use."""
        self._make_turns()
        self.engine.dispose(close=False)

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A transaction that will write: `BEGIN IMMEDIATE` on SQLite, committed on exit."""
        with self._write_turn, self.storage_errors(), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read-only snapshot (deferred transaction), rolled back on exit."""
        with self._read_turn, self.storage_errors(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def storage_errors(self) -> Iterator[None]:
        """Turn driver failures (read-only file, full disk, unreachable server) into StorageError."""
        try:
            yield
        except exc.IntegrityError:
            raise  # the query modules turn these into NotFound / Conflict
        except exc.DataError as error:  # e.g. a name longer than its PostgreSQL column
            # Not the store's address: this message goes back to whoever sent the value.
            raise ValidationError(f"the store refused a value: {_reason(error)}") from error
        except (exc.OperationalError, exc.DatabaseError, exc.InterfaceError) as error:
            raise StorageError(f"the store at {self.where} failed: {_reason(error)}") from error
        except OverflowError as error:  # sqlite3 binding an int beyond 64 bits
            raise ValidationError(f"the store refused a value: {error}") from error
        except OSError as error:
            if isinstance(error, StorageError):
                raise
            raise StorageError(f"the store at {self.where} failed: {error}") from error
        except Exception as error:
            # The bulk paths (COPY, executemany on the driver) reach the driver directly, so
            # its errors arrive unwrapped; they are the store's failures all the same.
            if not _is_driver_error(error):
                raise
            if _is_data_error(error):
                raise ValidationError(f"the store refused a value: {mask_secrets(error)}") from error
            raise StorageError(f"the store at {self.where} failed: {mask_secrets(error)}") from error

    def dispose(self) -> None:
        self.engine.dispose()


def _is_driver_error(error: Exception) -> bool:
    if isinstance(error, sqlite3.Error):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.Error)


def _is_data_error(error: Exception) -> bool:
    if isinstance(error, sqlite3.DataError):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.DataError)


def _describe(url: sa.URL) -> str:
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def _reason(error: exc.DBAPIError) -> str:
    reason = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
    return mask_secrets(reason)


def sqlite_path(url: sa.URL) -> Path | None:
    """The database file of a SQLite URL, None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).expanduser()


# UPDATE ... RETURNING arrived in SQLite 3.35 (2021); the store leans on it.
MIN_SQLITE = (3, 35)


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise StorageError(
            f"the embedded store needs SQLite >= {'.'.join(map(str, MIN_SQLITE))}; this Python links "
            f"{sqlite3.sqlite_version} (use a newer Python build, or PostgreSQL via DUCTWORK_DB_URL)"
        )
    path = sqlite_path(url)
    read_only = False
    if path is None:
        # One shared in-memory database (tests, throwaway tools): one connection for all threads.
        engine = sa.create_engine(url, poolclass=pool.StaticPool, connect_args={"check_same_thread": False})
    elif _read_only_folder(path):
        read_only = True
        engine = sa.create_engine(
            url.set(database=str(path)), pool_size=8, max_overflow=32, creator=_read_only_opener(path)
        )
    else:
        _make_folder(path.parent)
        engine = sa.create_engine(
            url.set(database=str(path)),
            pool_size=8,
            max_overflow=32,
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Transactions are ours to open (see `_on_begin`), not the sqlite3 module's.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if path is not None and not read_only:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            # FULL: the WAL is fsynced at every commit, so an acknowledged write (a status, an
            # artifact record, a queue claim) survives a power cut; see docs/durability.md.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA temp_store=MEMORY")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


def _postgres_engine(url: sa.URL) -> sa.Engine:
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is the one driver we ship
    return sa.create_engine(url, pool_size=8, max_overflow=32, pool_pre_ping=True, pool_recycle=3600)


def _read_only_folder(path: Path) -> bool:
    """An existing database in a folder this process may not write (a read-only mount, another
    user's home): opened read-only, so every read command still works."""
    folder = path.parent
    return folder.is_dir() and path.is_file() and not os.access(folder, os.W_OK | os.X_OK)


def _read_only_opener(path: Path) -> Any:
    """Connections that read `path` without writing anything next to it, WAL content included.

    A WAL database needs its `-shm` index: with both `-wal` and `-shm` there (a writer is
    running, or was killed), SQLite reads them read-only. A `-wal` without `-shm` cannot be read
    in place: the two files are copied to a private folder, where SQLite rebuilds the index.
    Without a `-wal` everything is in the file itself, and `immutable` opens it without an index
    (nobody can write it meanwhile: a writer would need to create the `-wal` in this folder).
    """
    from urllib.parse import quote

    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    if wal.is_file() and wal.stat().st_size > 0:
        if shm.is_file():
            uri = f"file:{quote(str(path))}?mode=ro"
        else:
            uri = f"file:{quote(str(_private_copy(path, wal)))}?mode=ro"
    else:
        uri = f"file:{quote(str(path))}?mode=ro&immutable=1"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)

    return connect


def _private_copy(path: Path, wal: Path) -> Path:
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ductwork-readonly-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    copy = folder / path.name
    shutil.copyfile(path, copy)
    shutil.copyfile(wal, folder / wal.name)
    return copy


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(f"cannot create the store folder {folder}: {error.strerror or error}") from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(f"the store folder {folder} is not writable")
