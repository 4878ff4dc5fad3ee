"""A claim that carries its worker's previous run's end (`Store.claim(..., end=...)`): the end
and the next claim in one transaction, all or nothing, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import pytest

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import ConsoleLine, TaskRecord, Worker
from ductwork.store import Store


def _first_run(store: Store, worker: str = "w1") -> tuple[TaskRecord, str]:
    """A claimed run under `worker`, and a second task waiting on the same queue."""
    store.ensure_queue("q")
    store.register_worker(Worker(id=worker, queues=["q"]))
    first, second = (store.create_task(TaskRecord(name=f"t{n}")).id for n in range(2))
    store.enqueue(first, "q")
    store.enqueue(second, "q")
    claim = store.claim(["q"], worker)
    assert claim is not None and claim.id == first and claim.worker and claim.started is not None
    return claim, second


def _end(claim: TaskRecord, status: str = "completed", **more: Any) -> dict[str, Any]:
    said = {"task_id": claim.id, "worker": claim.worker, "started": claim.started, "status": status}
    return {**said, **more}


def test_claim_records_the_end_then_claims_the_next(store: Store) -> None:
    claim, second = _first_run(store)
    lines = [ConsoleLine(claim.id, "done")]
    nxt = store.claim(["q"], "w1", end=_end(claim, console=lines, message="ok"))
    assert nxt is not None and nxt.id == second and nxt.status == "in_progress"
    first = store.get_task(claim.id)
    assert (first.status, first.status_message) == ("completed", "ok") and first.ended is not None
    assert [line.text for line in store.get_console(claim.id)] == ["done"]
    assert [(w.id, w.task_id) for w in store.list_workers()] == [("w1", second)]


def test_claim_on_an_empty_queue_records_the_end_and_leaves_the_worker_idle(store: Store) -> None:
    claim, second = _first_run(store)
    store.dequeue(second)
    assert store.claim(["q"], "w1", end=_end(claim, "failed", reason="exit code 3")) is None
    assert store.get_task(claim.id).status == "failed"
    assert [w.task_id for w in store.list_workers()] == [None]


def test_a_failed_claim_records_no_end(store: Store) -> None:
    claim, second = _first_run(store)
    with pytest.raises(NotFound, match="'gone'"):
        store.claim(["gone"], "w1", end=_end(claim))
    assert store.get_task(claim.id).status == "in_progress"  # the agent says it again, alone
    assert store.get_task(second).status == "queued"


def test_the_end_of_a_run_taken_back_does_not_stop_the_claim(store: Store) -> None:
    claim, second = _first_run(store)
    store.set_status(claim.id, "stopped")  # aborted meanwhile: the abort stands
    nxt = store.claim(["q"], "w1", end=_end(claim))
    assert nxt is not None and nxt.id == second
    assert store.get_task(claim.id).status == "stopped"


def test_claim_refuses_a_hostile_end_and_claims_nothing(store: Store) -> None:
    claim, second = _first_run(store)
    store.register_worker(Worker(id="w2", queues=["q"]))
    other = store.create_task(TaskRecord(name="other")).id
    hostile: list[Any] = [
        _end(claim, "published"),
        _end(claim, "in_progress"),
        {**_end(claim), "worker": "w2"},  # another worker's run, said by w1
        {**_end(claim), "task_id": None},
        {**_end(claim), "task_id": 12},
        {**_end(claim), "force": True},  # not an end_claim argument
        {**_end(claim), "started": "yesterday"},
        _end(claim, console=[ConsoleLine(other, "smuggled")]),
        ["not", "a", "mapping"],
    ]
    for end in hostile:
        with pytest.raises(ValidationError):
            store.claim(["q"], "w1", end=end)
    with pytest.raises(NotFound):
        store.claim(["q"], "w1", end={**_end(claim), "task_id": "0" * 32})
    assert store.get_task(claim.id).status == "in_progress" and store.get_task(second).status == "queued"
    assert store.get_console(other) == [] and store.get_console(claim.id) == []
