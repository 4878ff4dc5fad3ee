"""Batched queue calls: many tasks enqueued in one transaction, and a claimed run's end (its last
console lines, its final status over its own claim only, its worker idle) in another."""

from __future__ import annotations

import pytest

from ductwork.core.errors import NotFound, StatusError, ValidationError
from ductwork.core.records import ConsoleLine, TaskRecord, Worker
from ductwork.store import Store
from ductwork.store.queues import MAX_BATCH


def _tasks(store: Store, count: int) -> list[str]:
    return [store.create_task(TaskRecord(name=f"t{n}")).id for n in range(count)]


def _claimed(store: Store, worker: str = "w1") -> TaskRecord:
    store.ensure_queue("q")
    store.register_worker(Worker(id=worker, queues=["q"]))
    (task_id,) = _tasks(store, 1)
    store.enqueue(task_id, "q")
    claim = store.claim(["q"], worker)
    assert claim is not None and claim.id == task_id
    return claim


def test_enqueue_many_keeps_order_and_claims_in_it(store: Store) -> None:
    store.ensure_queue("q")
    ids = _tasks(store, 5)
    entries = store.enqueue_many(ids, "q", priority=2)
    assert [e.task_id for e in entries] == ids and {e.priority for e in entries} == {2}
    assert {t.status for t in store.get_tasks(ids)} == {"queued"}
    claimed = [store.claim(["q"], "w") for _ in ids]
    assert [t.id for t in claimed if t is not None] == ids


def test_enqueue_many_is_all_or_nothing(store: Store) -> None:
    store.ensure_queue("q")
    ids = _tasks(store, 3)
    store.set_status(ids[1], "in_progress")  # cannot be enqueued
    with pytest.raises(StatusError, match=ids[1]):
        store.enqueue_many(ids, "q")
    assert store.queue_entries("q") == []
    assert store.get_task(ids[0]).status == "created"
    with pytest.raises(StatusError, match="queued"):  # the same task twice in one batch
        store.enqueue_many([ids[0], ids[0]], "q")
    assert store.queue_entries("q") == []
    with pytest.raises(NotFound, match="'nope'"):
        store.enqueue_many([ids[0]], "nope")


def test_enqueue_many_refuses_hostile_batches(store: Store) -> None:
    store.ensure_queue("q")
    with pytest.raises(ValidationError, match="at most"):
        store.enqueue_many(["x" * 32] * (MAX_BATCH + 1), "q")
    with pytest.raises(ValidationError, match="list"):
        store.enqueue_many("abc", "q")
    with pytest.raises(ValidationError):
        store.enqueue_many(["x" * 100_000], "q")
    with pytest.raises(ValidationError):
        store.enqueue_many([{"id": 1}], "q")  # type: ignore[list-item]
    assert store.enqueue_many([], "q") == []


def test_end_claim_records_lines_status_and_idle_worker(store: Store) -> None:
    claim = _claimed(store)
    assert claim.worker and claim.started is not None
    lines = [ConsoleLine(claim.id, "hello"), ConsoleLine(claim.id, "oops", "stderr")]
    assert store.end_claim(claim.id, claim.worker, claim.started, "completed", console=lines) is None
    task = store.get_task(claim.id)
    assert task.status == "completed" and task.ended is not None
    assert [(line.text, line.seq) for line in store.get_console(claim.id)] == [("hello", 1), ("oops", 2)]
    assert [w.task_id for w in store.list_workers()] == [None]


def test_end_claim_never_overwrites_another_run(store: Store) -> None:
    claim = _claimed(store)
    assert claim.worker and claim.started is not None
    # Re-queued and claimed again by another worker while the first run went on.
    store.set_status(claim.id, "stopped", force=True)
    store.enqueue(claim.id, "q")
    again = store.claim(["q"], "w2")
    assert again is not None
    line = [ConsoleLine(claim.id, "late line of the first run")]
    assert store.end_claim(claim.id, claim.worker, claim.started, "failed", console=line) == "taken"
    now = store.get_task(claim.id)
    assert (now.status, now.worker, now.started) == ("in_progress", "w2", again.started)
    assert [x.text for x in store.get_console(claim.id)] == ["late line of the first run"]
    # Aborted: the abort stands, the lines are kept.
    store.set_status(claim.id, "stopped")
    assert store.end_claim(claim.id, "w2", again.started or 0.0, "completed") == "stopped"
    assert store.get_task(claim.id).status == "stopped"


def test_end_claim_refuses_hostile_input(store: Store) -> None:
    claim = _claimed(store)
    other = _tasks(store, 1)[0]
    assert claim.worker and claim.started is not None
    end = store.end_claim
    with pytest.raises(ValidationError, match="completed or failed"):
        end(claim.id, claim.worker, claim.started, "published")
    with pytest.raises(ValidationError, match="completed or failed"):
        end(claim.id, claim.worker, claim.started, "in_progress")
    with pytest.raises(ValidationError, match="its own"):  # lines smuggled into another task
        end(claim.id, claim.worker, claim.started, "completed", console=[ConsoleLine(other, "x")])
    with pytest.raises(ValidationError, match="started"):
        end(claim.id, claim.worker, "yesterday", "completed")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        end(claim.id, "w" * 10_000, claim.started, "completed")
    with pytest.raises(NotFound):
        end("0" * 32, claim.worker, claim.started, "completed")
    assert store.get_console(other) == [] and store.get_task(claim.id).status == "in_progress"
