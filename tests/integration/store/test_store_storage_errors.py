"""A read-only or full `$DUCTWORK_HOME`: a StorageError naming the path, the store left consistent.

Root ignores file modes, so as root the child process gives up the capabilities that let it
(CAP_DAC_OVERRIDE and friends) before it starts; the modes then apply as to anyone.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ductwork.core.errors import StorageError
from ductwork.core.queries import EventQuery, TaskQuery
from ductwork.store import Store, migrate

SRC = str(Path(__file__).resolve().parents[3] / "src")
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER = 1, 2, 3


def _drop_root_file_powers() -> None:
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _run(code: str, *args: str, preexec: Callable[[], None] = _drop_root_file_powers) -> str:
    """Run `code` in a fresh interpreter; it prints 'ERROR <type>: <message>' or 'OK ...'."""
    wrapper = (
        "import sys\n"
        "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) + "except Exception as error:\n"
        "    print('ERROR', type(error).__name__ + ':', error)\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    result = subprocess.run(
        [sys.executable, "-c", wrapper, *args],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=preexec,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


_OPEN = "from ductwork.store import Store\nStore(sys.argv[1]).list_queues()\nprint('OK')"


def test_read_only_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    tmp_path.chmod(0o755)
    home.chmod(0o555)
    try:
        out = _run(_OPEN, f"sqlite:///{home / 'ductwork.db'}")
    finally:
        home.chmod(0o755)
    assert out.startswith("ERROR StorageError:"), out
    assert str(home) in out


def test_home_that_cannot_be_created(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    tmp_path.chmod(0o755)
    parent.chmod(0o555)
    try:
        out = _run(_OPEN, f"sqlite:///{parent / 'home' / 'ductwork.db'}")
    finally:
        parent.chmod(0o755)
    assert out.startswith("ERROR StorageError:"), out
    assert str(parent / "home") in out


def test_home_path_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match=str(blocker)):
        Store(f"sqlite:///{blocker / 'ductwork.db'}")


def test_read_only_database_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    url = f"sqlite:///{home / 'ductwork.db'}"
    migrate.upgrade(url)
    tmp_path.chmod(0o755)
    (home / "ductwork.db").chmod(0o444)
    code = (
        "from ductwork.store import Store\nfrom ductwork.core.records import TaskRecord\n"
        "Store(sys.argv[1]).create_task(TaskRecord(name='x'))\nprint('OK')"
    )
    try:
        out = _run(code, url)
    finally:
        (home / "ductwork.db").chmod(0o644)
    assert out.startswith("ERROR StorageError:"), out
    assert str(home / "ductwork.db") in out


def test_full_disk_leaves_the_store_consistent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    url = f"sqlite:///{home / 'ductwork.db'}"
    migrate.upgrade(url)
    limit = (home / "ductwork.db").stat().st_size + 512 * 1024

    def small_disk() -> None:
        # Files may not grow past `limit`: writes beyond it fail as on a full disk.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    code = (
        "from ductwork.store import Store\n"
        "from ductwork.core.records import TaskRecord, MetricEvent\n"
        "store = Store(sys.argv[1])\n"
        "done = 0\n"
        "try:\n"
        "    for n in range(100000):\n"
        "        task = store.create_task(TaskRecord(name=f't{n}'))\n"
        "        batch = [MetricEvent(task.id, 'text', 'log', '', i, None, 'x' * 500) for i in range(50)]\n"
        "        store.add_events(batch)\n"
        "        done += 1\n"
        "finally:\n"
        "    print('DONE', done)\n"
    )
    out = _run(code, url, preexec=small_disk)
    lines = out.splitlines()
    completed = int(lines[0].split()[1])
    assert completed > 0
    assert lines[1].startswith("ERROR StorageError:") and str(home / "ductwork.db") in lines[1], out
    assert "full" in lines[1] or "I/O" in lines[1] or "disk" in lines[1]
    # Every task that reported success is there with all its events; nothing half-written.
    store = Store(url)
    try:
        tasks = store.query_tasks(TaskQuery())
        with_events = [t for t in tasks if len(store.get_events(EventQuery(t.id))) == 50]
        assert len(with_events) == completed
        assert len(tasks) in (completed, completed + 1)  # the last task may exist without its events
    finally:
        store.close()


def test_full_disk_on_first_open_leaves_an_empty_store(tmp_path: Path) -> None:
    # A new SQLite store's schema (the frozen script, one transaction) does not fit: the open fails
    # naming the file, nothing of the schema is kept, and the next open with room makes it whole.
    home = tmp_path / "home"
    url = f"sqlite:///{home / 'ductwork.db'}"

    def tiny_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

    out = _run(_OPEN, url, preexec=tiny_disk)
    assert out.startswith("ERROR StorageError:") and str(home / "ductwork.db") in out, out
    with sqlite3.connect(home / "ductwork.db") as raw:
        assert raw.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    raw.close()
    store = Store(url)
    try:
        assert migrate.current(store.database) == migrate.HEAD
    finally:
        store.close()


def test_unreachable_server_names_it() -> None:
    with pytest.raises(StorageError, match=r"127\.0\.0\.1:1/"):
        Store("postgresql+psycopg://postgres:hunter2@127.0.0.1:1/test?connect_timeout=2")
    with pytest.raises(StorageError) as raised:
        Store("postgresql://postgres:hunter2@127.0.0.1:1/test?connect_timeout=2")
    assert "hunter2" not in str(raised.value)


def test_unsupported_url() -> None:
    with pytest.raises(StorageError, match="unsupported database URL"):
        Store("mysql://localhost/x")
