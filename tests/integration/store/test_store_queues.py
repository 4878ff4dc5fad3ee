"""Queues, entries, claims and workers."""

from __future__ import annotations

import time
import uuid

import pytest

from ductwork.core.errors import Conflict, NotFound, StatusError, ValidationError
from ductwork.core.records import TaskRecord, Worker
from ductwork.store import Store


def _task(store: Store, name: str = "t") -> str:
    return store.create_task(TaskRecord(name=name)).id


def test_queue_crud(store: Store) -> None:
    default = store.ensure_queue("default")
    assert store.ensure_queue("default") == default
    store.ensure_queue("gpu")
    assert [q.name for q in store.list_queues()] == ["default", "gpu"]
    assert store.get_queue("gpu").length == 0
    store.delete_queue("gpu")
    with pytest.raises(NotFound, match="'gpu'"):
        store.get_queue("gpu")
    with pytest.raises(NotFound, match="'gpu'"):
        store.delete_queue("gpu")
    with pytest.raises(ValidationError, match="queue name"):
        store.ensure_queue(" ")
    store.enqueue(_task(store), "default")
    with pytest.raises(Conflict, match="1 task"):
        store.delete_queue("default")


def test_enqueue_and_dequeue(store: Store) -> None:
    store.ensure_queue("default")
    task_id = _task(store)
    entry = store.enqueue(task_id, "default", priority=3)
    assert (entry.queue, entry.task_id, entry.priority) == ("default", task_id, 3)
    task = store.get_task(task_id)
    assert task.status == "queued" and task.queue == "default"
    assert store.get_queue("default").length == 1
    with pytest.raises(StatusError, match="queued"):
        store.enqueue(task_id, "default")
    store.dequeue(task_id)
    assert store.get_task(task_id).status == "created"
    assert store.queue_entries("default") == []
    with pytest.raises(Conflict, match="created"):
        store.dequeue(task_id)
    with pytest.raises(NotFound, match="'nope'"):
        store.enqueue(task_id, "nope")
    with pytest.raises(NotFound, match="0" * 32):
        store.enqueue("0" * 32, "default")
    store.set_status(task_id, "in_progress")
    store.set_status(task_id, "completed")
    with pytest.raises(StatusError, match="completed"):
        store.enqueue(task_id, "default")
    store.set_status(task_id, "created")
    store.enqueue(task_id, "default")
    store.set_status(task_id, "stopped")  # leaving `queued` any other way drops the entry too
    assert store.queue_entries("default") == []
    store.enqueue(task_id, "default")  # stopped tasks can be enqueued again


def test_claim_order_queues_then_priority_then_age(store: Store) -> None:
    store.ensure_queue("high")
    store.ensure_queue("low")
    low_old = _task(store, "low_old")
    store.enqueue(low_old, "low")
    time.sleep(0.002)
    high_p0 = _task(store, "high_p0")
    store.enqueue(high_p0, "high")
    time.sleep(0.002)
    high_p5 = _task(store, "high_p5")
    store.enqueue(high_p5, "high", priority=5)
    time.sleep(0.002)
    high_p0_late = _task(store, "high_p0_late")
    store.enqueue(high_p0_late, "high")
    assert [e.task_id for e in store.queue_entries("high")] == [high_p5, high_p0, high_p0_late]
    store.register_worker(Worker("w1", ["high", "low"]))
    order = []
    while (task := store.claim(["high", "low"], "w1")) is not None:
        order.append(task.id)
        assert task.status == "in_progress" and task.worker == "w1" and task.started is not None
    assert order == [high_p5, high_p0, high_p0_late, low_old]
    assert store.list_workers()[0].task_id == low_old
    assert store.claim(["low", "high"], "w1") is None
    with pytest.raises(NotFound, match="'missing'"):
        store.claim(["high", "missing"], "w1")
    with pytest.raises(ValidationError):
        store.claim([], "w1")


def test_workers(store: Store) -> None:
    store.register_worker(Worker("w1", ["default"], host="h", pid=42))
    store.register_worker(Worker("w2", []))
    assert [w.id for w in store.list_workers()] == ["w1", "w2"]
    before = store.list_workers()[0].heartbeat
    store.heartbeat("w1", "a" * 32)
    w1 = store.list_workers()[0]
    assert w1.task_id == "a" * 32 and w1.heartbeat >= before and w1.host == "h" and w1.pid == 42
    store.register_worker(Worker("w1", ["gpu"]))  # re-registering replaces
    assert store.list_workers()[0].queues == ["gpu"]
    store.unregister_worker("w1")
    assert [w.id for w in store.list_workers()] == ["w2"]
    with pytest.raises(NotFound, match="'w1'"):
        store.heartbeat("w1", None)
    with pytest.raises(NotFound, match="'w1'"):
        store.unregister_worker("w1")


def test_queued_only_through_enqueue(store: Store) -> None:
    task_id = _task(store)
    with pytest.raises(StatusError, match="enqueue"):
        store.set_status(task_id, "queued")
    assert store.get_task(task_id).status == "created"


@pytest.mark.postgres
def test_enqueue_notifies_listeners_on_postgresql(pg_url: str) -> None:
    import psycopg
    import sqlalchemy as sa

    from ductwork.store.queues import NOTIFY_CHANNEL

    store = Store(pg_url)
    listener = psycopg.connect(sa.make_url(pg_url).set(drivername="postgresql").render_as_string(False))
    try:
        listener.autocommit = True
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        queue = f"gpu-{uuid.uuid4().hex[:8]}"
        store.ensure_queue(queue)
        store.enqueue(_task(store), queue)
        # The channel is the database's: other tests' enqueues (another xdist worker) arrive too.
        ours = [n for n in listener.notifies(timeout=5) if n.payload == queue]
        assert [(n.channel, n.payload) for n in ours] == [(NOTIFY_CHANNEL, queue)]
    finally:
        listener.close()
        store.close()
