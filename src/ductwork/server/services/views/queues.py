"""Queues and the workers that serve them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ductwork.core.records import (
    Queue,
    TaskRecord,
    Worker,
)
from ductwork.server.services.views.common import (
    Reader,
)


@dataclass
class QueueRow:
    queue: Queue
    length: int
    workers: list[str]


@dataclass
class WorkerRow:
    worker: Worker
    task: TaskRecord | None
    seconds_since_heartbeat: float


def queues_view(store: Reader) -> tuple[list[QueueRow], list[WorkerRow]]:
    workers = store.list_workers()
    queues = [
        QueueRow(
            queue=q,
            length=len(store.queue_entries(q.name)),
            workers=[w.id for w in workers if q.name in w.queues],
        )
        for q in sorted(store.list_queues(), key=lambda q: q.name)
    ]
    busy = {t.id: t for t in store.get_tasks([w.task_id for w in workers if w.task_id])}
    now = time.time()
    rows = [
        WorkerRow(
            worker=w, task=busy.get(w.task_id or ""), seconds_since_heartbeat=max(0.0, now - w.heartbeat)
        )
        for w in sorted(workers, key=lambda w: w.id)
    ]
    return queues, rows
