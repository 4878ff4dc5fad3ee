"""The embedded transport: one Store per URL per process, shared by threads."""

from __future__ import annotations

import threading
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
