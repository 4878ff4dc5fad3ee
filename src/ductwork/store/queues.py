"""Queues, their prioritised entries, and the atomic claim that hands an entry to one worker.

A claim is one write transaction: pick the first entry, delete it, mark its task running.
On PostgreSQL the pick is `FOR UPDATE SKIP LOCKED`, so concurrent claimers each lock a
different entry instead of queueing up behind one; on SQLite `BEGIN IMMEDIATE` makes the
claimers take turns, and each sees the entries the previous one left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ductwork.core.errors import Conflict, NotFound, StatusError, ValidationError
from ductwork.core.records import ConsoleLine, Queue, QueueEntry, TaskRecord, Worker, new_id
from ductwork.core.states import TaskStatus, check_transition
from ductwork.store import bounds
from ductwork.store.common import for_update, insert, now, upsert
from ductwork.store.events import add_console
from ductwork.store.tables import queue_entries, queues, tasks, workers
from ductwork.store.tasks import FIELDS as _TASK_FIELDS
from ductwork.store.tasks import record as task_record
from ductwork.store.tasks import set_status

# Most tasks one enqueue_many call takes.
MAX_BATCH = 1000
# On PostgreSQL every enqueue also sends NOTIFY on this channel (payload: the queue name),
# so an idle agent can LISTEN instead of polling. Delivered when the enqueue commits.
NOTIFY_CHANNEL = "ductwork_queue"
_ENDS = frozenset({TaskStatus.completed.value, TaskStatus.failed.value})
# What a claim's `end` may say: `end_claim`'s arguments.
_END_KEYS = frozenset({"task_id", "worker", "started", "status", "message", "reason", "console"})
ENQUEUABLE = frozenset({TaskStatus.created.value, TaskStatus.stopped.value, TaskStatus.failed.value})
_length = (
    sa.select(sa.func.count()).select_from(queue_entries).where(queue_entries.c.queue_id == queues.c.id)
).scalar_subquery()
_queue_columns = (queues.c.id, queues.c.name, queues.c.created, _length.label("length"), queues.c.user)
_by_name = sa.select(*_queue_columns).where(queues.c.name == sa.bindparam("name"))
_notify = sa.text("SELECT pg_notify(:channel, :queue)")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"queue name must be a non-empty string, got {bounds.short(name)}")
    return bounds.text(name.strip(), "queue name", 256)


def ensure(conn: sa.Connection, name: str, user: str = "") -> Queue:
    """The queue `name`, created (owned by `user`) if missing; an existing one keeps its owner."""
    name = _check_name(name)
    row = {"id": new_id(), "name": name, "created": now(), "user": user}
    conn.execute(insert(conn, queues).on_conflict_do_nothing(index_elements=["name"]), row)
    return get(conn, name)


def get(conn: sa.Connection, name: str) -> Queue:
    row = conn.execute(_by_name, {"name": name}).first()
    if row is None:
        raise NotFound(f"queue {name!r} not found")
    return Queue(*row)


def list_all(conn: sa.Connection) -> list[Queue]:
    return [Queue(*row) for row in conn.execute(sa.select(*_queue_columns).order_by(queues.c.name))]


def delete(conn: sa.Connection, name: str) -> None:
    queue = get(conn, name)
    if queue.length:
        raise Conflict(f"queue {name!r} still holds {queue.length} task(s); dequeue them first")
    conn.execute(sa.delete(queues).where(queues.c.id == queue.id))


def enqueue(conn: sa.Connection, task_id: str, queue_name: str, priority: int) -> QueueEntry:
    return _enqueue(conn, task_id, get(conn, queue_name), priority)


def enqueue_many(
    conn: sa.Connection, task_ids: Sequence[str], queue_name: str, priority: int
) -> list[QueueEntry]:
    """Every task of `task_ids` on the queue, in that order, or none of them (one transaction:
    a task that cannot be enqueued fails the whole batch)."""
    if isinstance(task_ids, str) or not isinstance(task_ids, Sequence):
        raise ValidationError(f"enqueue_many: task_ids must be a list, got {bounds.short(task_ids)}")
    if len(task_ids) > MAX_BATCH:
        raise ValidationError(f"enqueue_many: at most {MAX_BATCH} tasks a call, got {len(task_ids)}")
    bounds.strings(task_ids, "enqueue_many: task_ids", 64)
    queue = get(conn, queue_name)
    entries = [_enqueue(conn, task_id, queue, priority) for task_id in task_ids]
    return entries


def _enqueue(conn: sa.Connection, task_id: str, queue: Queue, priority: int) -> QueueEntry:
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ValidationError(f"task {task_id}: priority must be an int, got {bounds.short(priority)}")
    bounds.integer(priority, f"task {task_id}: priority", *bounds.INT32)
    status = conn.execute(for_update(conn, sa.select(tasks.c.status).where(tasks.c.id == task_id))).scalar()
    if status is None:
        raise NotFound(f"task {task_id} not found")
    if status not in ENQUEUABLE:
        raise StatusError(
            f"task {task_id} is {status}; only a created, stopped or failed task can be enqueued"
            + (" (reset or clone it first)" if status != TaskStatus.queued else "")
        )
    check_transition(task_id, status, TaskStatus.queued.value)
    entry = QueueEntry(queue=queue.name, task_id=task_id, priority=priority, added=now())
    conn.execute(
        sa.insert(queue_entries),
        {"queue_id": queue.id, "task_id": task_id, "priority": priority, "added": entry.added},
    )
    conn.execute(
        sa.update(tasks)
        .where(tasks.c.id == task_id)
        .values(
            status=TaskStatus.queued.value,
            status_message="",
            status_reason="",
            queue=queue.name,
            updated=now(),
        )
    )
    if conn.dialect.name == "postgresql":
        conn.execute(_notify, {"channel": NOTIFY_CHANNEL, "queue": queue.name})
    return entry


def dequeue(conn: sa.Connection, task_id: str) -> None:
    """Back to created; set_status drops the queue entry as it leaves `queued`."""
    set_status(conn, task_id, TaskStatus.created.value, reason="dequeued", expect=[TaskStatus.queued.value])


def entries(conn: sa.Connection, queue_name: str) -> list[QueueEntry]:
    queue = get(conn, queue_name)
    stmt = (
        sa.select(queue_entries.c.task_id, queue_entries.c.priority, queue_entries.c.added)
        .where(queue_entries.c.queue_id == queue.id)
        .order_by(queue_entries.c.priority.desc(), queue_entries.c.added, queue_entries.c.id)
    )
    return [QueueEntry(queue.name, *row) for row in conn.execute(stmt)]


def claim(
    conn: sa.Connection,
    queue_names: Sequence[str],
    worker: str,
    end: Mapping[str, Any] | None = None,
) -> TaskRecord | None:
    """The first entry of `queue_names` (in that order, then priority, then age), its task now
    in progress under `worker`; None when they are empty. `end`: how `worker`'s previous run
    ended (`end_claim`'s arguments), recorded first in the same transaction, so an agent
    between two runs makes one commit instead of two (its slot is left idle only when
    nothing is claimed)."""
    if not queue_names:
        raise ValidationError("claim needs at least one queue name")
    bounds.strings(queue_names, "claim: queues", 256)
    bounds.text(worker, "claim: worker", 256)
    if end is not None:
        _end_first(conn, worker, end)
    # Queues in the caller's order first, then priority, then age.
    position = sa.case({name: i for i, name in enumerate(queue_names)}, value=queues.c.name)
    pick = (
        sa.select(queue_entries.c.id, queue_entries.c.task_id)
        .join(queues, queues.c.id == queue_entries.c.queue_id)
        .join(tasks, tasks.c.id == queue_entries.c.task_id)
        .where(queues.c.name.in_(queue_names))
        .order_by(position, queue_entries.c.priority.desc(), queue_entries.c.added, queue_entries.c.id)
        .limit(1)
    )
    if conn.dialect.name == "postgresql":
        # Entry and task are locked together, skipping any a concurrent claim (or a
        # set_status, which locks the task first) holds: no waiting, so no lock-order deadlock.
        pick = pick.with_for_update(skip_locked=True, of=[queue_entries, tasks])
    row = conn.execute(pick).first()
    if row is None:
        _check_queues_exist(conn, queue_names)
        if end is not None:
            _idle(conn, worker)
        return None
    conn.execute(sa.delete(queue_entries).where(queue_entries.c.id == row.id))
    stamp = now()
    claimed = conn.execute(
        sa.update(tasks)
        .where(tasks.c.id == row.task_id)
        .values(
            status=TaskStatus.in_progress.value,
            status_message="",
            status_reason=f"claimed by {worker}",
            worker=worker,
            started=stamp,
            ended=None,
            updated=stamp,
        )
        .returning(*(tasks.c[name] for name in _TASK_FIELDS))
    ).one()
    conn.execute(
        sa.update(workers).where(workers.c.id == worker).values(task_id=row.task_id, heartbeat=stamp)
    )
    return task_record(claimed)


def end_claim(
    conn: sa.Connection,
    task_id: str,
    worker: str,
    started: float,
    status: str,
    *,
    message: str = "",
    reason: str = "",
    console: Sequence[ConsoleLine] = (),
    idle: bool = True,
) -> str | None:
    """The end of one claimed run, in one transaction: its last console lines, its final
    `status` (only over the same claim: the task still in progress under `worker`, started at
    `started`), and `worker` idle. Answers None when the status was recorded, else what the
    task is instead ("taken" while another claim's run has it); the lines are kept either way.
    `idle=False` leaves the worker's row to the claim that follows (`claim(end=...)`)."""
    if status not in _ENDS:
        raise ValidationError(
            f"task {bounds.short(task_id)}: a run ends completed or failed, not {bounds.short(status)}"
        )
    bounds.text(worker, "end_claim: worker", 256)
    if isinstance(started, bool) or not isinstance(started, (int, float)):
        raise ValidationError(f"task {bounds.short(task_id)}: started must be the claim's start time")
    if any(line.task_id != task_id for line in console):
        raise ValidationError(f"task {bounds.short(task_id)}: the console lines of a run's end are its own")
    add_console(conn, console)
    claim = sa.select(tasks.c.status, tasks.c.worker, tasks.c.started).where(tasks.c.id == task_id)
    row = conn.execute(for_update(conn, claim)).first()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    instead: str | None = None
    if row.status != TaskStatus.in_progress.value:
        instead = str(row.status)
    elif (row.worker, row.started) != (worker, started):
        instead = "taken"
    else:
        set_status(conn, task_id, status, message=message, reason=reason)
    if idle:
        _idle(conn, worker)
    return instead


def _end_first(conn: sa.Connection, worker: str, end: Mapping[str, Any]) -> None:
    if not isinstance(end, Mapping) or not _END_KEYS.issuperset(end):
        raise ValidationError(f"claim: end must be end_claim's arguments, got {bounds.short(end)}")
    if not isinstance(end.get("task_id"), str):
        raise ValidationError(f"claim: end names no task, got {bounds.short(end.get('task_id'))}")
    if end.get("worker") != worker:
        raise ValidationError("a claim carries the end of its own worker's run only")
    started: Any = end.get("started")  # checked by end_claim, as from any caller
    status: Any = end.get("status")
    said = {key: value for key, value in end.items() if key in ("message", "reason", "console")}
    end_claim(conn, end["task_id"], worker, started, status, idle=False, **said)


def _idle(conn: sa.Connection, worker: str) -> None:
    conn.execute(sa.update(workers).where(workers.c.id == worker).values(task_id=None, heartbeat=now()))


def _check_queues_exist(conn: sa.Connection, queue_names: Sequence[str]) -> None:
    known = set(conn.execute(sa.select(queues.c.name).where(queues.c.name.in_(queue_names))).scalars())
    missing = [name for name in queue_names if name not in known]
    if missing:
        raise NotFound(f"queue {missing[0]!r} not found")


# ---- workers -------------------------------------------------------------------------------

_WORKER_FIELDS = ("id", "queues", "task_id", "started", "heartbeat", "host", "pid")


def register_worker(conn: sa.Connection, worker: Worker) -> None:
    if not isinstance(worker.id, str) or not worker.id:
        raise ValidationError(f"worker id must be a non-empty string, got {worker.id!r}")
    row = {name: getattr(worker, name) for name in _WORKER_FIELDS}
    bounds.check(workers, row, f"worker {bounds.short(worker.id)}", dialect=conn.dialect.name)
    row["queues"] = bounds.strings(worker.queues, f"worker {worker.id}: queues", 256)
    conn.execute(upsert(conn, workers, ("id",), _WORKER_FIELDS), row)


def heartbeat(conn: sa.Connection, worker_id: str, task_id: str | None) -> None:
    bounds.check(workers, {"id": worker_id, "task_id": task_id}, "heartbeat")
    done = conn.execute(
        sa.update(workers).where(workers.c.id == worker_id).values(task_id=task_id, heartbeat=now())
    )
    if done.rowcount == 0:
        raise NotFound(f"worker {worker_id!r} not registered")


def unregister_worker(conn: sa.Connection, worker_id: str) -> None:
    if conn.execute(sa.delete(workers).where(workers.c.id == worker_id)).rowcount == 0:
        raise NotFound(f"worker {worker_id!r} not registered")


def list_workers(conn: sa.Connection) -> list[Worker]:
    stmt = sa.select(*(workers.c[name] for name in _WORKER_FIELDS)).order_by(workers.c.id)
    return [Worker(*row) for row in conn.execute(stmt)]
