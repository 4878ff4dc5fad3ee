"""Tasks: create, read, edit, status changes, reset, clone, delete, cache lookup (queries: taskqueries.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from ductwork.core.errors import Conflict, NotFound, StatusError, ValidationError
from ductwork.core.records import TaskRecord, TaskTypes, new_id
from ductwork.core.states import FINAL, TaskStatus, check_transition
from ductwork.store import bounds
from ductwork.store.common import PUBLISHED, is_foreign_key_error, now
from ductwork.store.tables import (
    artifacts,
    configs,
    console,
    events,
    models,
    nodes,
    params,
    queue_entries,
    task_models,
    tasks,
)

FIELDS = tuple(f.name for f in dataclasses.fields(TaskRecord))
COLUMNS = tuple(tasks.c[name] for name in FIELDS)
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

# Hot statements are built once: building one costs more than running it on SQLite.
_insert = sa.insert(tasks)
_by_id = sa.select(*COLUMNS).where(tasks.c.id == sa.bindparam("id"))
_state = sa.select(tasks.c.status, tasks.c.started, tasks.c.ended).where(tasks.c.id == sa.bindparam("id"))
_state_locked = _state.with_for_update()
_set_status = (
    sa.update(tasks)
    .where(tasks.c.id == sa.bindparam("task_id"))
    .values(
        status=sa.bindparam("status"),
        status_message=sa.bindparam("message"),
        status_reason=sa.bindparam("reason"),
        started=sa.bindparam("started"),
        ended=sa.bindparam("ended"),
        updated=sa.bindparam("now"),
    )
    .returning(*COLUMNS)
)
_leave_queue = sa.delete(queue_entries).where(queue_entries.c.task_id == sa.bindparam("task_id"))


def record(row: Any) -> TaskRecord:
    return TaskRecord(*row)


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


def create(conn: sa.Connection, task: TaskRecord) -> TaskRecord:
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
    values = {name: getattr(task, name) for name in FIELDS}
    _check_values(values, f"task {task.id}")
    bounds.check(tasks, values, f"task {task.id}", dialect=conn.dialect.name)
    values.update(started=started, ended=ended, updated=stamp)
    created = TaskRecord(**{name: values[name] for name in FIELDS})
    try:
        conn.execute(_insert, values)
    except exc.IntegrityError as error:
        if is_foreign_key_error(error):
            raise NotFound(f"task {task.id}: project {task.project} not found") from error
        raise Conflict(f"task {task.id} already exists") from error
    return created


def get(conn: sa.Connection, task_id: str) -> TaskRecord:
    row = conn.execute(_by_id, {"id": task_id}).first()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return record(row)


def get_many(conn: sa.Connection, task_ids: Sequence[str]) -> list[TaskRecord]:
    """The tasks in the order asked; NotFound names the first unknown id."""
    if not task_ids:
        return []
    found = {row.id: record(row) for row in conn.execute(sa.select(*COLUMNS).where(tasks.c.id.in_(task_ids)))}
    for task_id in task_ids:
        if task_id not in found:
            raise NotFound(f"task {task_id} not found")
    return [found[task_id] for task_id in task_ids]


def _locked_state(conn: sa.Connection, task_id: str) -> tuple[str, float | None, float | None]:
    """(status, started, ended), the row locked against concurrent changes until commit."""
    stmt = _state_locked if conn.dialect.name == "postgresql" else _state
    row = conn.execute(stmt, {"id": task_id}).first()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    return str(row.status), row.started, row.ended


def _locked_status(conn: sa.Connection, task_id: str) -> str:
    return _locked_state(conn, task_id)[0]


def edit(conn: sa.Connection, task_id: str, changes: Mapping[str, object]) -> TaskRecord:
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        hint = " (status goes through set_status)" if "status" in unknown else ""
        raise ValidationError(f"task {task_id}: cannot edit {', '.join(unknown)}{hint}")
    values = dict(changes)
    _check_values(values, f"task {task_id}")
    bounds.check(tasks, values, f"task {bounds.short(task_id)}", dialect=conn.dialect.name)
    status = _locked_status(conn, task_id)
    if status == PUBLISHED and set(changes) - EDITABLE_WHEN_PUBLISHED:
        raise StatusError(f"task {task_id} is published and read-only; clone it to change it")
    values["updated"] = now()
    try:
        row = conn.execute(
            sa.update(tasks).where(tasks.c.id == task_id).values(values).returning(*COLUMNS)
        ).one()
    except exc.IntegrityError as error:
        raise NotFound(f"task {task_id}: project {changes.get('project')} not found") from error
    return record(row)


def set_status(
    conn: sa.Connection,
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
            conn.execute(_leave_queue, {"task_id": task_id})
    values = {
        "task_id": task_id,
        "status": status,
        "message": message,
        "reason": reason,
        "started": started,
        "ended": ended,
        "now": stamp,
    }
    return record(conn.execute(_set_status, values).one())


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


def reset(conn: sa.Connection, task_id: str) -> TaskRecord:
    old = _locked_status(conn, task_id)
    if old == PUBLISHED:
        raise StatusError(f"task {task_id} is published and read-only; clone it to change it")
    delete_outputs(conn, task_id)
    conn.execute(sa.delete(queue_entries).where(queue_entries.c.task_id == task_id))
    values = {
        "status": TaskStatus.created.value,
        "status_message": "",
        "status_reason": "reset",
        "started": None,
        "ended": None,
        "progress": 0,
        "updated": now(),
    }
    row = conn.execute(sa.update(tasks).where(tasks.c.id == task_id).values(values).returning(*COLUMNS)).one()
    return record(row)


def delete_outputs(conn: sa.Connection, task_id: str) -> None:
    """Artifacts, output models (the unpublished ones this task made), events, console, nodes."""
    conn.execute(sa.delete(artifacts).where(artifacts.c.task_id == task_id))
    conn.execute(sa.delete(events).where(events.c.task_id == task_id))
    conn.execute(sa.delete(console).where(console.c.task_id == task_id))
    conn.execute(sa.delete(nodes).where(nodes.c.run_id == task_id))
    output_models = sa.select(task_models.c.model_id).where(
        task_models.c.task_id == task_id, task_models.c.role == "output"
    )
    conn.execute(
        sa.delete(models).where(
            models.c.id.in_(output_models), models.c.task_id == task_id, models.c.published.is_(False)
        )
    )
    conn.execute(
        sa.delete(task_models).where(task_models.c.task_id == task_id, task_models.c.role == "output")
    )


def delete(conn: sa.Connection, task_id: str) -> None:
    """The task and everything that belongs to it (foreign keys cascade); models it made stay."""
    if conn.execute(sa.delete(tasks).where(tasks.c.id == task_id)).rowcount == 0:
        raise NotFound(f"task {task_id} not found")
    conn.execute(sa.delete(events).where(events.c.task_id == task_id))  # no foreign key there


def clone(
    conn: sa.Connection,
    task_id: str,
    *,
    name: str | None = None,
    project: str | None = None,
    parent: str | None = None,
) -> TaskRecord:
    """A draft copy with parameters, configuration, input models, code and environment."""
    given = {"name": name, "project": project, "parent": parent}
    bounds.check(tasks, {k: v for k, v in given.items() if v is not None}, f"clone of task {task_id}")
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


def _copy_inputs(conn: sa.Connection, source_id: str, copy_id: str) -> None:
    """The source's parameters, configuration objects and input models, onto the copy."""
    conn.execute(
        sa.insert(params).from_select(
            ["task_id", "section", "name", "value", "type", "description"],
            sa.select(
                sa.literal(copy_id),
                params.c.section,
                params.c.name,
                params.c.value,
                params.c.type,
                params.c.description,
            ).where(params.c.task_id == source_id),
        )
    )
    conn.execute(
        sa.insert(configs).from_select(
            ["task_id", "name", "text", "type", "description"],
            sa.select(
                sa.literal(copy_id), configs.c.name, configs.c.text, configs.c.type, configs.c.description
            ).where(configs.c.task_id == source_id),
        )
    )
    conn.execute(
        sa.insert(task_models).from_select(
            ["task_id", "model_id", "role", "name"],
            sa.select(sa.literal(copy_id), task_models.c.model_id, task_models.c.role, task_models.c.name)
            .where(task_models.c.task_id == source_id, task_models.c.role == "input")
            .order_by(task_models.c.id),
        )
    )


_cached = (
    sa.select(*COLUMNS)
    .where(
        tasks.c.cache_key == sa.bindparam("key"),
        tasks.c.status.in_([TaskStatus.completed.value, TaskStatus.published.value]),
        tasks.c.archived.is_(False),
    )
    .order_by(tasks.c.ended.desc(), tasks.c.created.desc())
    .limit(8)
)


def find_cached(conn: sa.Connection, cache_key: str) -> TaskRecord | None:
    for row in conn.execute(_cached, {"key": cache_key}):
        task = record(row)
        # The `archived` system tag (the reference's spelling) counts as archived too.
        if "archived" not in task.system_tags:
            return task
    return None
