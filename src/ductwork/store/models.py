"""Model records and their links to tasks (input / output, in attach order)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import ModelRecord, TaskModel
from ductwork.store import bounds
from ductwork.store.common import require_task, touch_writable_task
from ductwork.store.sql import Columns, Conn, IntegrityError

FIELDS = tuple(f.name for f in dataclasses.fields(ModelRecord))
_COLUMNS = Columns("models", FIELDS)
_UPSERT = _COLUMNS.upsert(("id",))
_BY_ID = f"SELECT {_COLUMNS.sql} FROM models WHERE id = :id"
_ROLES = ("input", "output")
_LINKS = "SELECT task_id, model_id, role, name FROM task_models WHERE task_id = :task_id ORDER BY id"
_ATTACH = Columns("task_models", ("task_id", "model_id", "role", "name")).upsert(("task_id", "role", "name"))


def put(conn: Conn, model: ModelRecord) -> ModelRecord:
    """Insert or replace the model `model.id`."""
    if not isinstance(model.tags, (list, tuple)) or not all(isinstance(t, str) for t in model.tags):
        raise ValidationError(f"model {model.id}: tags must be a list of strings, got {model.tags!r}")
    if not isinstance(model.labels, dict) or not all(
        isinstance(k, str) and type(v) is int for k, v in model.labels.items()
    ):
        raise ValidationError(
            f"model {model.id}: labels must be a dict of name -> int, got {bounds.short(model.labels)}"
        )
    row = {name: getattr(model, name) for name in FIELDS}
    bounds.check("models", row, f"model {bounds.short(model.id)}", dialect=conn.dialect)
    row["tags"] = list(model.tags)
    try:
        conn.count(_UPSERT, _COLUMNS.encode(row))
    except IntegrityError as error:
        if error.foreign_key:
            raise NotFound(
                f"model {model.id}: project {model.project} or task {model.task_id} not found"
            ) from error
        raise
    return dataclasses.replace(model, tags=list(model.tags))


def get(conn: Conn, model_id: str) -> ModelRecord:
    row = conn.first(_BY_ID, {"id": model_id})
    if row is None:
        raise NotFound(f"model {model_id} not found")
    return ModelRecord(*_COLUMNS.decode(conn, row))


def query(
    conn: Conn, *, project: str | None, name: str | None, tags: Sequence[str] | None
) -> list[ModelRecord]:
    text, params = f"SELECT {_COLUMNS.sql} FROM models WHERE 1 = 1", {}
    if project is not None:
        text += " AND project = :project"
        params["project"] = project
    if name is not None:
        text += " AND name = :name"
        params["name"] = name
    for i, tag in enumerate(tags or ()):
        text += f" AND {conn.has_tag('models.tags', f'tag_{i}')}"
        params[f"tag_{i}"] = conn.tag_param(tag)
    text += " ORDER BY created DESC, id"
    return [ModelRecord(*values) for values in _COLUMNS.decode_all(conn, conn.rows(text, params))]


def attach(conn: Conn, link: TaskModel) -> None:
    """Link a model to a task; the same (role, name) again points it at the new model.

    An unnamed link takes the model's name, so `task.models["input"]` can list it by name.
    """
    if link.role not in _ROLES:
        raise ValidationError(
            f"task {link.task_id}: model role must be 'input' or 'output', got {link.role!r}"
        )
    bounds.check_record("task_models", link, f"task {bounds.short(link.task_id)}: model link")
    model = get(conn, link.model_id)
    touch_writable_task(conn, link.task_id)
    row = {
        "task_id": link.task_id,
        "model_id": link.model_id,
        "role": link.role,
        "name": link.name or model.name or model.id,
    }
    conn.count(_ATTACH, row)


def rename_link(conn: Conn, link: TaskModel, name: str) -> None:
    """Put the link `link` (still to `link.model_id`) under `name`, keeping its attach order.

    A link of another model already under `name` in the same role goes, as `attach` would
    replace it. Done already (the model is under `name`) is no error, so a request may be
    repeated; NotFound when the task has no such link (gone, or re-pointed meanwhile)."""
    if link.role not in _ROLES:
        raise ValidationError(
            f"task {link.task_id}: model role must be 'input' or 'output', got {link.role!r}"
        )
    renamed = TaskModel(link.task_id, link.model_id, link.role, name)
    where = f"task {bounds.short(link.task_id)}: model link"
    bounds.check_record("task_models", link, where)
    bounds.check_record("task_models", renamed, where)
    if not name:
        raise ValidationError(f"{where}: the new name must not be empty")
    touch_writable_task(conn, link.task_id)
    mine = "SELECT id FROM task_models WHERE task_id = :task_id AND role = :role AND model_id = :model_id"
    params: dict[str, Any] = {"task_id": link.task_id, "role": link.role, "model_id": link.model_id}
    found = conn.scalar(f"{mine} AND name = :name", {**params, "name": link.name})
    if found is None:
        if conn.first(f"{mine} AND name = :name", {**params, "name": name}):
            return  # renamed already (a repeated request): done
        raise NotFound(f"task {link.task_id} has no {link.role} model {link.model_id} named {link.name!r}")
    if name == link.name:
        return
    conn.count(
        "DELETE FROM task_models WHERE task_id = :task_id AND role = :role AND name = :name",
        {"task_id": link.task_id, "role": link.role, "name": name},
    )
    conn.count("UPDATE task_models SET name = :name WHERE id = :id", {"name": name, "id": found})


def links(conn: Conn, task_id: str) -> list[TaskModel]:
    result = [TaskModel(*row) for row in conn.rows(_LINKS, {"task_id": task_id})]
    if not result:
        require_task(conn, task_id)
    return result
