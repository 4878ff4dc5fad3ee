"""Queues, their prioritised entries, and the atomic claim that hands an entry to one worker.

A claim is one write transaction: pick the first entry, delete it, mark its task running.
On PostgreSQL the pick is `FOR UPDATE SKIP LOCKED`, so concurrent claimers each lock a
different entry instead of queueing up behind one; on SQLite `BEGIN IMMEDIATE` makes the
claimers take turns, and each sees the entries the previous one left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ductwork.core.errors import Conflict, NotFound, StatusError, ValidationError
from ductwork.core.records import ConsoleLine, Queue, QueueEntry, TaskRecord, Worker, new_id
from ductwork.core.states import TaskStatus, check_transition
from ductwork.store import bounds
from ductwork.store.common import now
from ductwork.store.events import add_console
from ductwork.store.sql import Columns, Conn, in_list
from ductwork.store.tasks import COLUMNS as _TASK_COLUMNS
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
_QUEUES = (
    "SELECT queues.id, queues.name, queues.created, (SELECT COUNT(*) FROM queue_entries "
    'WHERE queue_entries.queue_id = queues.id), queues."user" FROM queues'
)
_BY_NAME = f"{_QUEUES} WHERE name = :name"
_NOTIFY = "SELECT pg_notify(:channel, :queue)"
_ENSURE = (
    'INSERT INTO queues (id, name, created, "user") VALUES (:id, :name, :created, :user) '
    "ON CONFLICT (name) DO NOTHING"
)
_TASK_STATUS = "SELECT status FROM tasks WHERE id = :id"
_ADD_ENTRY = (
    "INSERT INTO queue_entries (queue_id, task_id, priority, added) "
    "VALUES (:queue_id, :task_id, :priority, :added)"
)
_QUEUED = (
    "UPDATE tasks SET status = 'queued', status_message = '', status_reason = '', queue = :queue, "
    "updated = :now WHERE id = :id"
)
_CLAIMED = (
    "UPDATE tasks SET status = 'in_progress', status_message = '', status_reason = :reason, "
    "worker = :worker, started = :now, ended = NULL, updated = :now WHERE id = :id "
    f"RETURNING {_TASK_COLUMNS.sql}"
)
_BUSY = "UPDATE workers SET task_id = :task_id, heartbeat = :now WHERE id = :worker"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"queue name must be a non-empty string, got {bounds.short(name)}")
    return bounds.text(name.strip(), "queue name", 256)


def ensure(conn: Conn, name: str, user: str = "") -> Queue:
    """The queue `name`, created (owned by `user`) if missing; an existing one keeps its owner."""
    name = _check_name(name)
    row = {"id": new_id(), "name": name, "created": now(), "user": user}
    conn.count(_ENSURE, row)
    return get(conn, name)


def get(conn: Conn, name: str) -> Queue:
    row = conn.first(_BY_NAME, {"name": name})
    if row is None:
        raise NotFound(f"queue {name!r} not found")
    return Queue(*row)


def list_all(conn: Conn) -> list[Queue]:
    return [Queue(*row) for row in conn.rows(f"{_QUEUES} ORDER BY name")]


def delete(conn: Conn, name: str) -> None:
    queue = get(conn, name)
    if queue.length:
        raise Conflict(f"queue {name!r} still holds {queue.length} task(s); dequeue them first")
    conn.count("DELETE FROM queues WHERE id = :id", {"id": queue.id})


def enqueue(conn: Conn, task_id: str, queue_name: str, priority: int) -> QueueEntry:
    return _enqueue(conn, task_id, get(conn, queue_name), priority)


def enqueue_many(conn: Conn, task_ids: Sequence[str], queue_name: str, priority: int) -> list[QueueEntry]:
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


def _enqueue(conn: Conn, task_id: str, queue: Queue, priority: int) -> QueueEntry:
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ValidationError(f"task {task_id}: priority must be an int, got {bounds.short(priority)}")
    bounds.integer(priority, f"task {task_id}: priority", *bounds.INT32)
    status = conn.scalar(conn.for_update(_TASK_STATUS), {"id": task_id})
    if status is None:
        raise NotFound(f"task {task_id} not found")
    if status not in ENQUEUABLE:
        raise StatusError(
            f"task {task_id} is {status}; only a created, stopped or failed task can be enqueued"
            + (" (reset or clone it first)" if status != TaskStatus.queued else "")
        )
    check_transition(task_id, status, TaskStatus.queued.value)
    entry = QueueEntry(queue=queue.name, task_id=task_id, priority=priority, added=now())
    conn.count(
        _ADD_ENTRY, {"queue_id": queue.id, "task_id": task_id, "priority": priority, "added": entry.added}
    )
    conn.count(_QUEUED, {"queue": queue.name, "now": now(), "id": task_id})
    if conn.pg:
        conn.rows(_NOTIFY, {"channel": NOTIFY_CHANNEL, "queue": queue.name})
    return entry


def dequeue(conn: Conn, task_id: str) -> None:
    """Back to created; set_status drops the queue entry as it leaves `queued`."""
    set_status(conn, task_id, TaskStatus.created.value, reason="dequeued", expect=[TaskStatus.queued.value])


def entries(conn: Conn, queue_name: str) -> list[QueueEntry]:
    queue = get(conn, queue_name)
    text = (
        "SELECT task_id, priority, added FROM queue_entries WHERE queue_id = :queue_id "
        "ORDER BY priority DESC, added, id"
    )
    return [QueueEntry(queue.name, *row) for row in conn.rows(text, {"queue_id": queue.id})]


def claim(
    conn: Conn,
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
    row = conn.first(*_pick(conn, queue_names))
    if row is None:
        _check_queues_exist(conn, queue_names)
        if end is not None:
            _idle(conn, worker)
        return None
    entry_id, task_id = row
    conn.count("DELETE FROM queue_entries WHERE id = :id", {"id": entry_id})
    stamp = now()
    claimed = conn.first(
        _CLAIMED, {"reason": f"claimed by {worker}", "worker": worker, "now": stamp, "id": task_id}
    )
    assert claimed is not None  # locked by the pick
    conn.count(_BUSY, {"task_id": task_id, "now": stamp, "worker": worker})
    return task_record(conn, claimed)


def _pick(conn: Conn, queue_names: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The first entry of the queues: in the caller's order of queues, then priority, then age."""
    params: dict[str, Any] = {}
    names = in_list("queue", queue_names, params)
    position = " ".join(f"WHEN :queue_{i} THEN {i}" for i in range(len(queue_names)))
    text = (
        "SELECT queue_entries.id, queue_entries.task_id FROM queue_entries "
        "JOIN queues ON queues.id = queue_entries.queue_id JOIN tasks ON tasks.id = queue_entries.task_id "
        f"WHERE queues.name IN {names} ORDER BY CASE queues.name {position} END, "
        "queue_entries.priority DESC, queue_entries.added, queue_entries.id LIMIT 1"
    )
    if conn.pg:
        # Entry and task are locked together, skipping any a concurrent claim (or a
        # set_status, which locks the task first) holds: no waiting, so no lock-order deadlock.
        text += " FOR UPDATE OF queue_entries, tasks SKIP LOCKED"
    return text, params


def end_claim(
    conn: Conn,
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
    row = conn.first(
        conn.for_update("SELECT status, worker, started FROM tasks WHERE id = :id"), {"id": task_id}
    )
    if row is None:
        raise NotFound(f"task {task_id} not found")
    instead: str | None = None
    if row[0] != TaskStatus.in_progress.value:
        instead = str(row[0])
    elif (row[1], row[2]) != (worker, started):
        instead = "taken"
    else:
        set_status(conn, task_id, status, message=message, reason=reason)
    if idle:
        _idle(conn, worker)
    return instead


def _end_first(conn: Conn, worker: str, end: Mapping[str, Any]) -> None:
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


def _idle(conn: Conn, worker: str) -> None:
    conn.count(_BUSY, {"task_id": None, "now": now(), "worker": worker})


def _check_queues_exist(conn: Conn, queue_names: Sequence[str]) -> None:
    params: dict[str, Any] = {}
    among = in_list("name", queue_names, params)
    known = {row[0] for row in conn.rows(f"SELECT name FROM queues WHERE name IN {among}", params)}
    missing = [name for name in queue_names if name not in known]
    if missing:
        raise NotFound(f"queue {missing[0]!r} not found")


# ---- workers -------------------------------------------------------------------------------

_WORKER_FIELDS = ("id", "queues", "task_id", "started", "heartbeat", "host", "pid")
_WORKERS = Columns("workers", _WORKER_FIELDS)
_REGISTER = _WORKERS.upsert(("id",))


def register_worker(conn: Conn, worker: Worker) -> None:
    if not isinstance(worker.id, str) or not worker.id:
        raise ValidationError(f"worker id must be a non-empty string, got {worker.id!r}")
    row = {name: getattr(worker, name) for name in _WORKER_FIELDS}
    bounds.check("workers", row, f"worker {bounds.short(worker.id)}", dialect=conn.dialect)
    row["queues"] = bounds.strings(worker.queues, f"worker {worker.id}: queues", 256)
    conn.count(_REGISTER, _WORKERS.encode(row))


def heartbeat(conn: Conn, worker_id: str, task_id: str | None) -> None:
    bounds.check("workers", {"id": worker_id, "task_id": task_id}, "heartbeat")
    if conn.count(_BUSY, {"task_id": task_id, "now": now(), "worker": worker_id}) == 0:
        raise NotFound(f"worker {worker_id!r} not registered")


def unregister_worker(conn: Conn, worker_id: str) -> None:
    if conn.count("DELETE FROM workers WHERE id = :id", {"id": worker_id}) == 0:
        raise NotFound(f"worker {worker_id!r} not registered")


def list_workers(conn: Conn) -> list[Worker]:
    rows = conn.rows(f"SELECT {_WORKERS.sql} FROM workers ORDER BY id")
    return [Worker(*values) for values in _WORKERS.decode_all(conn, rows)]
