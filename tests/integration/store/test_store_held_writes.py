"""Writes held back by a writer of this process (a debug run's steps, `pipelines.pending`): the
store calls `before_use` hooks before any other use, so no one here reads without them, and
`Store.check` refuses bad input before anything is held (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import Param, TaskRecord
from ductwork.pipelines.pending import Pending
from ductwork.store import Store


def test_hooks_run_before_each_use_but_not_inside_a_batch_or_themselves(store: Store) -> None:
    calls: list[str] = []

    def hook() -> None:
        calls.append("hook")
        store.get_task(task.id)  # a hook's own use of the store does not call it again

    task = store.create_task(TaskRecord(name="t"))
    remove = store.before_use(hook)
    store.get_task(task.id)
    store.edit_task(task.id, {"comment": "c"})
    assert calls == ["hook", "hook"]
    store.batch([("get_task", (task.id,), {}), ("edit_task", (task.id, {"comment": "d"}), {})])
    assert calls == ["hook"] * 3  # once for the batch, not for each call in it
    seen: list[str] = []
    worker = threading.Thread(target=lambda: seen.append(store.get_task(task.id).comment))
    worker.start()
    worker.join()
    assert seen == ["d"] and calls == ["hook"] * 4  # any thread
    remove()
    store.get_task(task.id)
    assert calls == ["hook"] * 4


@pytest.mark.parametrize(
    "calls, named",
    [
        ([("create_task", (TaskRecord(name="a\x00b"),), {})], "name"),
        ([("create_task", (TaskRecord(name="t", progress=2**70),), {})], "progress"),
        ([("create_task", (TaskRecord(name="t", status="no such"),), {})], "unknown status"),
        ([("set_parameters", ("t1", {"Args/x": Param("a\x00")}), {})], "Args/x"),
        ([("set_parameters", ("t1", {"Args/x": 3}), {})], "must be a Param"),
        ([("set_parameters", ("t1", {"/x": Param(1)}), {})], "Section/name"),
    ],
)
def test_check_names_what_the_store_would_refuse_and_writes_nothing(
    store: Store, calls: list[tuple[str, tuple[object, ...], dict[str, object]]], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        store.check(calls)
    assert store.query_tasks(TaskQuery(archived=None)) == []


def test_a_held_start_is_committed_before_any_use_here_and_seen_elsewhere_after(store: Store) -> None:
    logged: list[str] = []
    pending = Pending(store, logged.append)
    task = TaskRecord(name="held", status="in_progress")
    assert (
        pending.start(
            [("create_task", (task,), {}), ("set_parameters", (task.id, {"Args/x": Param(1, "int")}), {})]
        )
        is task
    )
    other = Store(store.url, migrate_schema=False)  # another process on the same database
    try:
        with pytest.raises(NotFound):
            other.get_task(task.id)  # held: not written yet
        seen: list[str] = []
        worker = threading.Thread(target=lambda: seen.append(store.get_task(task.id).name))
        worker.start()  # a use from any thread of this process writes what is held first
        worker.join()
        assert seen == ["held"]
        assert other.get_parameters(task.id) == {"Args/x": Param(1, "int")}
        pending.close()
        later = TaskRecord(name="after close", status="in_progress")
        pending.start([("create_task", (later,), {})])  # no hook any more: written at once
        assert other.get_task(later.id).name == "after close"
    finally:
        other.close()
    assert logged == []
