"""Database.reading: a page's reads share one transaction; reads alone leave nothing open
(SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

from ductwork.core.records import Param, TaskRecord
from ductwork.store import Store


def _connects(store: Store) -> list[int]:
    """Counts the connections the store's pool hands out from now on."""
    db = store.database
    counted: list[int] = []
    checkout = db._checkout

    def counting() -> tuple[object, float]:
        counted.append(1)
        return checkout()

    db._checkout = counting  # type: ignore[method-assign]
    return counted


def test_reads_inside_share_one_connection_and_answer_as_alone(store: Store) -> None:
    task = store.create_task(TaskRecord(name="run"))
    store.set_parameters(task.id, {"Args/x": Param(3, "int")})
    counted = _connects(store)
    with store.database.reading():
        assert store.get_task(task.id).name == "run"
        assert store.get_parameters(task.id) == {"Args/x": Param(3, "int")}
        with store.database.reading():  # nested: the same transaction
            assert store.get_nodes(task.id) == []
    assert len(counted) == 1
    store.get_task(task.id)
    assert len(counted) == 2  # outside, each read on its own again


def test_writes_inside_are_their_own_and_later_reads_see_them(store: Store) -> None:
    task = store.create_task(TaskRecord(name="before"))
    with store.database.reading():
        assert store.get_task(task.id).name == "before"
        store.edit_task(task.id, {"name": "after"})  # committed at once, on a connection of its own
    assert store.get_task(task.id).name == "after"


def test_each_thread_reads_on_its_own(store: Store) -> None:
    task = store.create_task(TaskRecord(name="shared"))
    seen: list[str] = []
    with store.database.reading():
        other = threading.Thread(target=lambda: seen.append(store.get_task(task.id).name))
        other.start()
        other.join()
        store.get_task(task.id)
    assert seen == ["shared"]


def test_a_read_leaves_no_transaction_open(store: Store) -> None:
    """On PostgreSQL a read runs in autocommit: the pooled connection goes back idle, holding
    no snapshot or lock; a write after it on the same connection is a transaction again."""
    task = store.create_task(TaskRecord(name="t"))
    store.get_task(task.id)
    with store.database.connection() as raw:
        if store.database.dialect == "postgresql":
            assert raw.info.transaction_status == 0  # IDLE
        else:
            assert not raw.in_transaction
    store.edit_task(task.id, {"name": "u"})
    assert store.get_task(task.id).name == "u"
