"""Tasks: create, read, edit, status changes, reset, clone, delete, cache lookup (queries: taskqueries.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ductwork.core.errors import Conflict, NotFound, StatusError, ValidationError
from ductwork.core.records import TaskRecord, TaskTypes, new_id
from ductwork.core.states import FINAL, TaskStatus, check_transition
from ductwork.store import bounds, series
from ductwork.store.common import PUBLISHED, now
from ductwork.store.sql import Columns, Conn, Fields, IntegrityError, in_list, sets

FIELDS = tuple(f.name for f in dataclasses.fields(TaskRecord))
COLUMNS = Columns("tasks", FIELDS)
_JSON_LISTS = ("tags", "system_tags")
_JSON_DICTS = ("script", "requirements", "container", "runtime")
STATUSES = frozenset(s.value for s in TaskStatus)
TYPES = frozenset(TaskTypes.all())
# Fields edit_task may set. Status and its timestamps move only through set_status; queue
# and worker only through enqueue / claim; id, created and updated are the store's.
EDITABLE = frozenset(FIELDS) - {
    "id",
    "status",
    "status_message",
    "status_reason",
    "created",
    "started",
    "ended",
    "updated",
    "queue",
    "worker",
}
# What may still change on a published (read-only) task: labels, not contents.
EDITABLE_WHEN_PUBLISHED = frozenset({"tags", "system_tags", "comment", "archived"})

_INSERT = Columns("tasks", (*FIELDS, "cache_key")).insert()
_BY_ID = f"SELECT {COLUMNS.sql} FROM tasks WHERE id = :id"
_STATE = "SELECT status, started, ended FROM tasks WHERE id = :id"
_SET_STATUS = (
    "UPDATE tasks SET status = :status, status_message = :message, status_reason = :reason, "
    f"started = :started, ended = :ended, updated = :now WHERE id = :task_id RETURNING {COLUMNS.sql}"
)
_LEAVE_QUEUE = "DELETE FROM queue_entries WHERE task_id = :task_id"


def record(conn: Conn, row: Sequence[Any]) -> TaskRecord:
    return TaskRecord(*COLUMNS.decode(conn, row))


def cache_key_of(runtime: dict[str, Any]) -> str | None:
    key = runtime.get("cache_key")
    if key is None:
        return None
    if not isinstance(key, str):
        raise ValidationError(f"runtime['cache_key'] must be a string, got {type(key).__name__}")
    return key


def _check_values(values: dict[str, Any], where: str) -> None:
    """ValidationError naming the field when a value has the wrong shape."""
    for name in _JSON_LISTS:
        if name in values:
            value = values[name]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ValidationError(f"{where}: {name} must be a list of strings, got {value!r}")
            values[name] = list(value)
    for name in _JSON_DICTS:
        if name in values and not isinstance(values[name], dict):
            raise ValidationError(f"{where}: {name} must be a dict, got {type(values[name]).__name__}")
    if "type" in values and values["type"] not in TYPES:
        raise ValidationError(f"{where}: unknown task type {values['type']!r}; one of {sorted(TYPES)}")
    if "name" in values and not isinstance(values["name"], str):
        raise ValidationError(f"{where}: name must be a string, got {values['name']!r}")
    if "progress" in values and (
        not isinstance(values["progress"], int) or isinstance(values["progress"], bool)
    ):
        raise ValidationError(f"{where}: progress must be an int, got {values['progress']!r}")
    if "archived" in values and not isinstance(values["archived"], bool):
        raise ValidationError(f"{where}: archived must be a bool, got {values['archived']!r}")
    if "runtime" in values:
        values["cache_key"] = cache_key_of(values["runtime"])


def create(conn: Conn, task: TaskRecord) -> TaskRecord:
    values, row = checked_row(task, conn.dialect)
    created = TaskRecord(**{name: values[name] for name in FIELDS})
    try:
        conn.count(_INSERT, row)
    except IntegrityError as error:
        if error.foreign_key:
            raise NotFound(f"task {task.id}: project {task.project} not found") from error
        raise Conflict(f"task {task.id} already exists") from error
    return created


def insert_rows(conn: Conn, rows: Sequence[dict[str, Any]]) -> None:
    """New tasks' rows, checked and encoded (`held`), in one statement. A clash (an id taken,
    a project gone) is said of the batch: `create` one by one names the task."""
    try:
        conn.many(_INSERT, rows)
    except IntegrityError as error:
        if error.foreign_key:
            raise NotFound(f"one of {len(rows)} new tasks names a project that is not found") from error
        raise Conflict(f"one of {len(rows)} new tasks has an id that already exists") from error


def checked(task: TaskRecord, dialect: str) -> dict[str, Any]:
    """The column values of a new task, each checked (a ValidationError names the field),
    with its times filled in."""
    return checked_row(task, dialect)[0]


def checked_row(task: TaskRecord, dialect: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """`checked`, and the same values encoded as `COLUMNS.encode` would (the row to insert)."""
    if not isinstance(task.id, str) or not 0 < len(task.id) <= 32:
        raise ValidationError(f"task id must be a string of 1 to 32 characters, got {task.id!r}")
    if task.status not in STATUSES:
        raise ValidationError(f"task {task.id}: unknown status {task.status!r}; one of {sorted(STATUSES)}")
    if task.status == TaskStatus.queued:
        raise StatusError(f"task {task.id}: create it, then enqueue(task, queue) it")
    stamp = now()
    started, ended = task.started, task.ended
    if task.status == TaskStatus.in_progress and started is None:
        started = stamp
    if task.status in FINAL and ended is None:
        ended = stamp
    values = _FIELDS_OF(task)
    _check_values(values, f"task {task.id}")
    row = bounds.encoded("tasks", values, lambda: f"task {task.id}", dialect=dialect)
    times = {"started": started, "ended": ended, "updated": stamp}  # floats: encoded as they are
    values.update(times)
    row.update(times)
    return values, row


_FIELDS_OF = Fields(TaskRecord, FIELDS)


def get(conn: Conn, task_id: str) -> TaskRecord:
    row = conn.first(_BY_ID, {"id": task_id})
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return record(conn, row)


def get_many(conn: Conn, task_ids: Sequence[str]) -> list[TaskRecord]:
    """The tasks in the order asked; NotFound names the first unknown id."""
    if not task_ids:
        return []
    params: dict[str, Any] = {}
    ids = in_list("id", task_ids, params)
    found = {
        task.id: task for task in records(conn, f"SELECT {COLUMNS.sql} FROM tasks WHERE id IN {ids}", params)
    }
    for task_id in task_ids:
        if task_id not in found:
            raise NotFound(f"task {task_id} not found")
    return [found[task_id] for task_id in task_ids]


def records(conn: Conn, text: str, params: dict[str, Any]) -> list[TaskRecord]:
    """The tasks a `SELECT {COLUMNS.sql} ...` finds."""
    return [TaskRecord(*values) for values in COLUMNS.decode_all(conn, conn.rows(text, params))]


def _locked_state(conn: Conn, task_id: str) -> tuple[str, float | None, float | None]:
    """(status, started, ended), the row locked against concurrent changes until commit."""
    row = conn.first(conn.for_update(_STATE), {"id": task_id})
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return str(row[0]), row[1], row[2]


def _locked_status(conn: Conn, task_id: str) -> str:
    return _locked_state(conn, task_id)[0]


def _update(conn: Conn, task_id: str, values: dict[str, Any]) -> TaskRecord:
    text = f"UPDATE tasks SET {sets(values)} WHERE id = :_id RETURNING {COLUMNS.sql}"
    row = conn.first(text, {**COLUMNS.encode(values), "_id": task_id})
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return record(conn, row)


def edit(conn: Conn, task_id: str, changes: Mapping[str, object]) -> TaskRecord:
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        hint = " (status goes through set_status)" if "status" in unknown else ""
        raise ValidationError(f"task {task_id}: cannot edit {', '.join(unknown)}{hint}")
    values = dict(changes)
    _check_values(values, f"task {task_id}")
    bounds.check("tasks", values, f"task {bounds.short(task_id)}", dialect=conn.dialect)
    status = _locked_status(conn, task_id)
    if status == PUBLISHED and set(changes) - EDITABLE_WHEN_PUBLISHED:
        raise StatusError(f"task {task_id} is published and read-only; clone it to change it")
    values["updated"] = now()
    try:
        return _update(conn, task_id, values)
    except IntegrityError as error:
        raise NotFound(f"task {task_id}: project {changes.get('project')} not found") from error


def set_status(
    conn: Conn,
    task_id: str,
    status: str,
    *,
    message: str = "",
    reason: str = "",
    force: bool = False,
    expect: Sequence[str] | None = None,
) -> TaskRecord:
    if status not in STATUSES:
        raise ValidationError(
            f"task {bounds.short(task_id)}: unknown status {bounds.short(status)}; one of {sorted(STATUSES)}"
        )
    bounds.text(message, f"task {task_id}: status message")
    bounds.text(reason, f"task {task_id}: status reason")
    if expect is not None:
        bounds.strings(expect, f"task {task_id}: expect", 32)
    old, started, ended = _locked_state(conn, task_id)
    if expect is not None and old not in expect:
        raise Conflict(f"task {task_id} is {old}, expected {' or '.join(expect) or 'nothing'}")
    check_transition(task_id, old, status, force=force)
    if status == TaskStatus.queued and old != status:
        # A queued task without a queue entry would wait forever: queueing names a queue.
        raise StatusError(f"task {task_id}: a task becomes queued through enqueue(), not set_status")
    stamp = now()
    if status != old:
        started, ended = _timestamps(old, status, stamp, started, ended)
        if old == TaskStatus.queued:
            conn.count(_LEAVE_QUEUE, {"task_id": task_id})
    values = {
        "task_id": task_id,
        "status": status,
        "message": message,
        "reason": reason,
        "started": started,
        "ended": ended,
        "now": stamp,
    }
    row = conn.first(_SET_STATUS, values)
    assert row is not None  # locked above
    return record(conn, row)


def _timestamps(
    old: str, new: str, stamp: float, started: float | None, ended: float | None
) -> tuple[float | None, float | None]:
    """(started, ended) after `old -> new`: running starts the clock, a final status stops it."""
    if new == TaskStatus.in_progress:
        return stamp, None
    if new in FINAL and old not in FINAL:
        return started, stamp
    if new == TaskStatus.created:
        return None, None
    return started, ended


def reset(conn: Conn, task_id: str) -> TaskRecord:
    old = _locked_status(conn, task_id)
    if old == PUBLISHED:
        raise StatusError(f"task {task_id} is published and read-only; clone it to change it")
    delete_outputs(conn, task_id)
    conn.count(_LEAVE_QUEUE, {"task_id": task_id})
    values = {
        "status": TaskStatus.created.value,
        "status_message": "",
        "status_reason": "reset",
        "started": None,
        "ended": None,
        "progress": 0,
        "updated": now(),
    }
    return _update(conn, task_id, values)


_DELETE_OUTPUTS = (
    "DELETE FROM artifacts WHERE task_id = :id",
    *series.delete_statements(),
    "DELETE FROM console WHERE task_id = :id",
    "DELETE FROM nodes WHERE run_id = :id",
    "DELETE FROM models WHERE id IN (SELECT model_id FROM task_models WHERE task_id = :id "
    "AND role = 'output') AND task_id = :id AND published = :no",
    "DELETE FROM task_models WHERE task_id = :id AND role = 'output'",
)


def delete_outputs(conn: Conn, task_id: str) -> None:
    """Artifacts, output models (the unpublished ones this task made), events, console, nodes."""
    for text in _DELETE_OUTPUTS:
        conn.count(text, {"id": task_id, "no": False} if ":no" in text else {"id": task_id})


def delete(conn: Conn, task_id: str) -> None:
    """The task and everything that belongs to it (foreign keys cascade); models it made stay."""
    if conn.count("DELETE FROM tasks WHERE id = :id", {"id": task_id}) == 0:
        raise NotFound(f"task {task_id} not found")
    for text in series.delete_statements():  # no foreign key there
        conn.count(text, {"id": task_id})


def clone(
    conn: Conn,
    task_id: str,
    *,
    name: str | None = None,
    project: str | None = None,
    parent: str | None = None,
) -> TaskRecord:
    """A draft copy with parameters, configuration, input models, code and environment."""
    given = {"name": name, "project": project, "parent": parent}
    bounds.check("tasks", {k: v for k, v in given.items() if v is not None}, f"clone of task {task_id}")
    source = get(conn, task_id)
    stamp = now()
    copy = TaskRecord(
        id=new_id(),
        name=source.name if name is None else name,
        project=source.project if project is None else project,
        type=source.type,
        created=stamp,
        updated=stamp,
        # As users of the reference expect: the source's parent, else the source itself.
        parent=parent if parent is not None else (source.parent or source.id),
        tags=list(source.tags),
        system_tags=[tag for tag in source.system_tags if tag != "archived"],
        comment=source.comment,
        user=source.user,
        script=source.script,
        requirements=source.requirements,
        container=source.container,
        output_uri=source.output_uri,
    )
    create(conn, copy)
    _copy_inputs(conn, task_id, copy.id)
    return copy


_COPY_INPUTS = (
    "INSERT INTO params (task_id, section, name, value, type, description) "
    "SELECT CAST(:copy AS VARCHAR(32)), section, name, value, type, description FROM params "
    "WHERE task_id = :source",
    "INSERT INTO configs (task_id, name, text, type, description) "
    "SELECT CAST(:copy AS VARCHAR(32)), name, text, type, description FROM configs WHERE task_id = :source",
    "INSERT INTO task_models (task_id, model_id, role, name) "
    "SELECT CAST(:copy AS VARCHAR(32)), model_id, role, name FROM task_models "
    "WHERE task_id = :source AND role = 'input' ORDER BY id",
)


def _copy_inputs(conn: Conn, source_id: str, copy_id: str) -> None:
    """The source's parameters, configuration objects and input models, onto the copy."""
    for text in _COPY_INPUTS:
        conn.count(text, {"copy": copy_id, "source": source_id})


_CACHED = (
    f"SELECT {COLUMNS.sql} FROM tasks WHERE cache_key = :key AND status IN ('completed', 'published') "
    "AND archived = :no ORDER BY ended DESC, created DESC LIMIT 8"
)


def find_cached(conn: Conn, cache_key: str) -> TaskRecord | None:
    for task in records(conn, _CACHED, {"key": cache_key, "no": False}):
        # The `archived` system tag (the reference's spelling) counts as archived too.
        if "archived" not in task.system_tags:
            return task
    return None
