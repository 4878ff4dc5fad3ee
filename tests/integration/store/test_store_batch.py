"""Store.batch: several calls in one transaction, each as if made alone (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import Param, TaskRecord
from ductwork.store import Store


def test_calls_run_in_order_and_give_their_results(store: Store) -> None:
    task = TaskRecord(name="t")
    created, nothing, read = store.batch(
        [
            ("create_task", (task,), {}),
            ("set_parameters", (task.id, {"Args/x": Param(3, "int")}), {}),
            ("get_parameters", (task.id,), {}),  # a read inside sees the batch's own writes
        ]
    )
    assert created.id == task.id and nothing is None
    assert read == {"Args/x": Param(3, "int")}
    assert store.get_task(task.id).name == "t"


def test_a_failing_call_is_undone_alone_and_ends_the_batch(store: Store) -> None:
    task = TaskRecord(name="kept")
    later = TaskRecord(name="never made")
    with pytest.raises(ValidationError):
        store.batch(
            [
                ("create_task", (task,), {}),
                ("create_task", (TaskRecord(name="bad", status="no such status"),), {}),
                ("create_task", (later,), {}),
            ]
        )
    assert store.get_task(task.id).name == "kept"  # as if made one by one
    with pytest.raises(NotFound):
        store.get_task(later.id)


def test_private_names_and_nested_batches_are_refused(store: Store) -> None:
    for method in ("_db", "batch", "__class__"):
        with pytest.raises(AttributeError):
            store.batch([(method, (), {}), ("create_task", (TaskRecord(name="x"),), {})])
    assert store.batch([("create_task", (TaskRecord(name="y"),), {})])[0].name == "y"


def test_other_threads_write_before_or_after_a_batch_never_inside(store: Store) -> None:
    task = TaskRecord(name="t")
    store.create_task(task)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            store.set_parameters(task.id, {f"W/{i}": Param(i)})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    calls = [("set_parameters", (task.id, {f"B/{i}": Param(i)}), {}) for i in range(20)]
    for thread in threads:
        thread.start()
    store.batch(calls)
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.get_parameters(task.id)) == 24
