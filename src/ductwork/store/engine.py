"""One database per URL: a small pool of DB-API connections (sqlite3 or psycopg 3), no SQLAlchemy.

SQLite: WAL (readers never block the writer), `synchronous=FULL` (see `_sqlite_connect`),
foreign keys on, a 30 s busy timeout, and every write transaction
opened with `BEGIN IMMEDIATE`. Taking the write lock up front is what keeps several
processes from failing with "database is locked": a deferred transaction that reads first
and writes later cannot wait for the lock (SQLite would deadlock), so it fails at once;
an immediate one simply waits its turn in the busy handler. Reads open a plain deferred
`BEGIN`, which in WAL mode is a consistent snapshot that never waits.

PostgreSQL: psycopg connections; writes in a transaction, reads in autocommit (READ COMMITTED
takes a snapshot per statement either way, so a transaction around reads only costs round trips).
One idle a while is pinged before use, and one older than an hour is replaced, so a restarted
server costs no failed call.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from ductwork.core.display import mask_secrets
from ductwork.core.errors import StorageError, ValidationError
from ductwork.store.sql import Conn
from ductwork.store.urls import Url, make_url

BUSY_TIMEOUT_S = 30.0
POOL_SIZE = 32  # idle connections kept per database: a server answers 50 clients at once
_PING_AFTER_S = 1.0  # a PostgreSQL connection idle longer is checked before use
_RECYCLE_S = 3600.0

# Databases open in this process, so a forked child (a fork-server step, an agent) can
# drop the connections and locks it inherited: the parent's connections belong to the
# parent, and a lock some other parent thread held at the fork would never be released.
_open: weakref.WeakSet[Database] = weakref.WeakSet()
# What a child inherited: kept referenced, never closed (closing a PostgreSQL connection would
# end the parent's session on the shared socket).
_inherited: list[Any] = []


def _after_fork_in_child() -> None:
    for db in list(_open):
        db.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Database:
    """A pool of DB-API connections plus the two ways in: `write()` and `read()` transactions."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.dialect = self.url.dialect
        if self.dialect not in ("sqlite", "postgresql"):
            raise StorageError(
                f"unsupported database URL {self.url.render()!r}: use sqlite:/// or postgresql+psycopg://"
            )
        self.where = _describe(self.url)
        self._idle: list[tuple[Any, float, float]] = []  # (connection, opened, last used)
        self._pool_lock = threading.Lock()
        self._path = sqlite_path(self.url) if self.dialect == "sqlite" else None
        self._read_only = False
        self._ro_uri: str | None = None
        self._shared: Any = None  # the one connection of an in-memory database
        if self.dialect == "sqlite":
            _check_sqlite()
            if self._path is not None:
                self._read_only = _read_only_folder(self._path)
                if not self._read_only:
                    _make_folder(self._path.parent)
        # SQLite has one writer at a time and its busy handler waits by sleeping (1, 2, 5, 10 ms
        # ...), so threads of this process queue here instead: a hand-off takes microseconds.
        # An in-memory database is one connection shared by every thread, so there reads
        # take turns too; files and PostgreSQL give each thread its own connection.
        self._in_memory = self.dialect == "sqlite" and self._path is None
        # Called before each transaction of this process opens (`before_use`): a writer that
        # holds writes back (a debug run's steps) commits them before anyone reads or writes.
        self._hooks: list[Callable[[], None]] = []
        self._make_turns()
        _open.add(self)

    def before_use(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Call `hook` before every transaction of this process opens (but not inside a batch,
        nor inside a hook's own calls); returns what removes it. For a writer that holds writes
        back: whoever uses the store next, in any thread, first sees them committed."""
        self._hooks = [*self._hooks, hook]  # a new list: `_first` iterates without a lock

        def remove() -> None:
            self._hooks = [h for h in self._hooks if h is not hook]

        return remove

    def _first(self) -> None:
        """The hooks, unless this thread is inside a batch or a hook already."""
        local = self._batches
        if getattr(local, "conn", None) is not None or getattr(local, "hooking", False):
            return
        local.hooking = True
        try:
            for hook in self._hooks:
                hook()
        finally:
            local.hooking = False

    def _make_turns(self) -> None:
        turn: AbstractContextManager[Any] = threading.RLock() if self.dialect == "sqlite" else nullcontext()
        self._write_turn = turn
        self._read_turn = turn if self._in_memory else nullcontext()
        self._batches = threading.local()  # this thread's open `batch()` transaction, if any

    def after_fork(self) -> None:
        """In a forked child: new locks, new connections on first use, and no hooks (what the
        parent holds back is the parent's to write)."""
        self._hooks = []
        self._make_turns()
        self._pool_lock = threading.Lock()
        _inherited.extend(self._idle)
        self._idle = []
        if self._shared is not None and not self._in_memory:
            _inherited.append(self._shared)
            self._shared = None

    @contextmanager
    def write(self) -> Iterator[Conn]:
        """A transaction that will write: `BEGIN IMMEDIATE` on SQLite, committed on exit.
        Inside this thread's `batch()`, a savepoint of the batch's transaction instead."""
        batch: Conn | None = getattr(self._batches, "conn", None)
        if batch is not None:
            with self.storage_errors(), _savepoint(batch) if self._batches.parts else nullcontext():
                yield batch
            return
        if self._hooks:
            self._first()
        with self._write_turn, self.storage_errors(), self._transaction(write=True) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Conn]:
        """A read-only snapshot (deferred transaction), rolled back on exit; inside this
        thread's `batch()`, its transaction (which sees the batch's own writes)."""
        batch: Conn | None = getattr(self._batches, "conn", None) or getattr(self._batches, "reader", None)
        if batch is not None:
            with self.storage_errors():
                yield batch
            return
        if self._hooks:
            self._first()
        with self._read_turn, self.storage_errors(), self._transaction(write=False) as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Every `read()` of this thread inside shares one read transaction (one connection; on
        SQLite one snapshot), for a page made of several reads. Not for writes: they are not part
        of it, nor seen by it. An in-memory database's reads keep their own turns."""
        held = (
            self._in_memory or getattr(self._batches, "conn", None) or getattr(self._batches, "reader", None)
        )
        with nullcontext() if held else self._holding("reader", self.read()):
            yield

    @contextmanager
    def batch(self, *, whole: bool = False) -> Iterator[None]:
        """Every `write()` and `read()` of this thread inside is one transaction, committed
        (one commit, one fsync) when the batch ends: for a few writes that belong together,
        such as a task and its parameters. Each write is a savepoint, so one that fails undoes
        only its own changes, as alone; an exception out of the batch undoes all of them.
        `whole`: no savepoints (two statements a write less), for a caller that lets any failure
        undo the whole batch. Hold it for store calls only: other writers wait for it."""
        held = getattr(self._batches, "conn", None) is not None  # already inside this thread's batch
        if held:
            yield
            return
        self._batches.parts = not whole
        with self._holding("conn", self.write()):
            yield

    @contextmanager
    def _holding(self, slot: str, transaction: AbstractContextManager[Conn]) -> Iterator[None]:
        """This thread's `slot` ("conn": its batch, "reader": its reads) while inside."""
        with transaction as conn:
            setattr(self._batches, slot, conn)
            try:
                yield
            finally:
                setattr(self._batches, slot, None)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled DB-API connection, outside any transaction (autocommit on SQLite)."""
        raw, opened = self._checkout()
        ok = False
        try:
            yield raw
            ok = True
        finally:
            self._checkin(raw, opened, ok)

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Conn]:
        with self.connection() as raw:
            if self.dialect == "sqlite":
                raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            else:
                # PostgreSQL's READ COMMITTED gives each statement its own snapshot, in a
                # transaction or not: a read in autocommit sees the same rows and saves the
                # BEGIN and ROLLBACK round trips (two of a one-query read's three).
                raw.autocommit = not write
            conn = Conn(raw, self.dialect)
            try:
                yield conn
            except BaseException:
                _rollback(raw)
                raise
            if write:
                raw.commit() if self.dialect == "postgresql" else raw.execute("COMMIT")
            elif self.dialect == "sqlite":
                _rollback(raw)

    def _checkout(self) -> tuple[Any, float]:
        if self._in_memory:
            if self._shared is None:
                self._shared = self._connect()
            return self._shared, 0.0
        stamp = time.monotonic()
        while True:
            with self._pool_lock:
                if not self._idle:
                    break
                raw, opened, used = self._idle.pop()
            if stamp - opened > _RECYCLE_S or not _alive(raw, self.dialect, stamp - used):
                _close(raw)
                continue
            return raw, opened
        return self._connect(), stamp

    def _checkin(self, raw: Any, opened: float, ok: bool) -> None:
        if self._in_memory:
            return
        if not ok and not _alive(raw, self.dialect, _PING_AFTER_S + 1):
            _close(raw)
            return
        with self._pool_lock:
            if len(self._idle) < POOL_SIZE:
                self._idle.append((raw, opened, time.monotonic()))
                return
        _close(raw)

    @property
    def in_memory(self) -> bool:
        return self._in_memory

    def new_connection(self) -> Any:
        """A DB-API connection of its own (the shared one of an in-memory database), for Alembic."""
        if self._in_memory:
            return self._checkout()[0]
        return self._connect()

    def _connect(self) -> Any:
        if self.dialect == "postgresql":
            import psycopg

            return psycopg.connect(**self.url.connect_args())
        if self._read_only and self._ro_uri is None:
            self._ro_uri = _read_only_uri(self._path)  # type: ignore[arg-type]
        return _sqlite_connect(self._path, self._ro_uri)

    @contextmanager
    def storage_errors(self) -> Iterator[None]:
        """Turn driver failures (read-only file, full disk, unreachable server) into StorageError."""
        from ductwork.store.sql import IntegrityError

        try:
            yield
        except IntegrityError:
            raise  # the query modules turn these into NotFound / Conflict
        except OverflowError as error:  # sqlite3 binding an int beyond 64 bits
            raise ValidationError(f"the store refused a value: {error}") from error
        except OSError as error:
            if isinstance(error, StorageError):
                raise
            raise StorageError(f"the store at {self.where} failed: {error}") from error
        except Exception as error:
            if not is_driver_error(error):
                raise
            if _is_data_error(error):  # e.g. a name longer than its PostgreSQL column
                # Not the store's address: this message goes back to whoever sent the value.
                raise ValidationError(f"the store refused a value: {_reason(error)}") from error
            raise StorageError(f"the store at {self.where} failed: {_reason(error)}") from error

    def dispose(self) -> None:
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for raw, _opened, _used in idle:
            _close(raw)
        if self._shared is not None:
            _close(self._shared)
            self._shared = None


@contextmanager
def _savepoint(conn: Conn) -> Iterator[None]:
    conn.execute("SAVEPOINT ductwork_write")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK TO SAVEPOINT ductwork_write")
        conn.execute("RELEASE SAVEPOINT ductwork_write")
        raise
    conn.execute("RELEASE SAVEPOINT ductwork_write")


def _rollback(raw: Any) -> None:
    try:
        raw.rollback()
    except Exception:
        pass  # a broken connection: the check-in drops it


def _close(raw: Any) -> None:
    try:
        raw.close()
    except Exception:
        pass


def _alive(raw: Any, dialect: str, idle: float) -> bool:
    """Whether a pooled connection still works; PostgreSQL ones idle a while are pinged."""
    if dialect != "postgresql":
        return True
    if raw.closed or raw.broken:
        return False
    if idle <= _PING_AFTER_S:
        return True
    try:
        raw.execute("SELECT 1")
        raw.rollback()
    except Exception:
        return False
    return True


def is_driver_error(error: Exception) -> bool:
    if isinstance(error, sqlite3.Error):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.Error)


def _is_data_error(error: Exception) -> bool:
    if isinstance(error, sqlite3.DataError):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.DataError)


def _describe(url: Url) -> str:
    if url.dialect == "sqlite":
        return url.database or ":memory:"
    return url.render(hide_password=True)


def _reason(error: Exception) -> str:
    return mask_secrets((str(error).strip().splitlines() or [type(error).__name__])[0])


def sqlite_path(url: Url | str) -> Path | None:
    """The database file of a SQLite URL, None for an in-memory database."""
    database = make_url(url).database if isinstance(url, str) else url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).expanduser()


# UPDATE ... RETURNING arrived in SQLite 3.35 (2021); the store leans on it.
MIN_SQLITE = (3, 35)


def _check_sqlite() -> None:
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise StorageError(
            f"the embedded store needs SQLite >= {'.'.join(map(str, MIN_SQLITE))}; this Python links "
            f"{sqlite3.sqlite_version} (use a newer Python build, or PostgreSQL via DUCTWORK_DB_URL)"
        )


def _sqlite_connect(path: Path | None, read_only_uri: str | None) -> sqlite3.Connection:
    """A connection with the store's pragmas; transactions are ours to open (isolation_level None)."""
    if path is None:
        raw = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    elif read_only_uri is not None:
        raw = sqlite3.connect(
            read_only_uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
        )
    else:
        raw = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
        )
    try:
        if path is not None and read_only_uri is None:
            raw.execute("PRAGMA journal_mode=WAL")
        raw.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        # FULL: the WAL is fsynced at every commit, so an acknowledged write (a status, an
        # artifact record, a queue claim) survives a power cut; see docs/durability.md.
        raw.execute("PRAGMA synchronous=FULL")
        raw.execute("PRAGMA foreign_keys=ON")
        raw.execute("PRAGMA temp_store=MEMORY")
        raw.create_function("regexp", 2, _regexp, deterministic=True)
    except BaseException:
        raw.close()
        raise
    return raw


def _regexp(pattern: str | None, value: str | None) -> bool | None:
    """`value REGEXP pattern` (Python's `re.search`), as the task name filter asks."""
    if pattern is None or value is None:
        return None
    import re

    return re.search(pattern, value) is not None


def _read_only_folder(path: Path) -> bool:
    """An existing database in a folder this process may not write (a read-only mount, another
    user's home): opened read-only, so every read command still works."""
    folder = path.parent
    return folder.is_dir() and path.is_file() and not os.access(folder, os.W_OK | os.X_OK)


def _read_only_uri(path: Path) -> str:
    """A URI that reads `path` without writing anything next to it, WAL content included.

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
            return f"file:{quote(str(path))}?mode=ro"
        return f"file:{quote(str(_private_copy(path, wal)))}?mode=ro"
    return f"file:{quote(str(path))}?mode=ro&immutable=1"


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
