"""The embedded transport: one Store per URL per process, shared by threads."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ductwork.client import backend
from ductwork.client.embedded import open_embedded
from ductwork.core.queries import TaskQuery
from ductwork.core.records import TaskRecord
from ductwork.store import Store


def test_one_store_per_url(sqlite_url: str, tmp_path: Path) -> None:
    first = open_embedded(sqlite_url)
    assert open_embedded(sqlite_url) is first
    other = open_embedded(f"sqlite:///{tmp_path / 'other.db'}")
    assert other is not first
    first.close()
    reopened = open_embedded(sqlite_url)
    assert reopened is not first and not reopened.closed
    reopened.close()
    other.close()


def test_default_backend_is_the_embedded_store_in_home(ductwork_home: Path) -> None:
    store = backend()
    assert isinstance(store, Store)
    task = store.create_task(TaskRecord(name="from home"))
    assert (ductwork_home / "ductwork.db").exists()
    assert store.get_task(task.id).name == "from home"


def test_threads_share_it(store_url: str) -> None:
    store = open_embedded(store_url)
    errors: list[BaseException] = []
    made: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            for i in range(25):
                task = store.create_task(TaskRecord(name=f"thread{n}-{i}"))
                store.set_status(task.id, "in_progress")
                store.set_status(task.id, "completed")
                with lock:
                    made.append(task.id)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert {t.status for t in store.get_tasks(made)} == {"completed"} and len(set(made)) == 200
    finally:
        store.close()


def test_in_memory_store_takes_turns_between_threads() -> None:
    store = Store("sqlite://")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                task = store.create_task(TaskRecord(name=f"mem{n}-{i}"))
                store.set_status(task.id, "in_progress")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert store.count_tasks(TaskQuery(status=["in_progress"])) == 80
    finally:
        store.close()


def test_a_forked_child_uses_its_own_connections_and_locks(sqlite_url: str) -> None:
    store = open_embedded(sqlite_url)
    parent_task = store.create_task(TaskRecord(name="parent"))
    # Another parent thread is about to write at the moment of the fork: it holds the
    # process's write turn (not yet SQLite's lock, which a real write releases in microseconds).
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.database._write_turn:
            holding.set()
            release.wait(60)

    thread = threading.Thread(target=writer)
    thread.start()
    holding.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: must write without waiting for the parent's lock
            code = 1
            try:
                child = open_embedded(sqlite_url)
                task = child.create_task(TaskRecord(name="child", parent=parent_task.id))
                code = 0 if child.get_task(task.id).parent == parent_task.id else 2
            finally:
                os._exit(code)
        deadline = time.time() + 30
        while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.time() < deadline:
            time.sleep(0.01)
        if done == (0, 0):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise AssertionError("the forked child hung on a lock it inherited")
        assert os.waitstatus_to_exitcode(done[1]) == 0
    finally:
        release.set()
        thread.join()
    assert {t.name for t in store.query_tasks(TaskQuery())} == {"parent", "child"}
    store.close()
