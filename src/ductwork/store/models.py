"""Model records and their links to tasks (input / output, in attach order)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import exc

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import ModelRecord, TaskModel
from ductwork.store import bounds
from ductwork.store.common import is_foreign_key_error, require_task, touch_writable_task, upsert
from ductwork.store.tables import models, task_models

FIELDS = tuple(f.name for f in dataclasses.fields(ModelRecord))
_columns = tuple(models.c[name] for name in FIELDS)
_by_id = sa.select(*_columns).where(models.c.id == sa.bindparam("id"))
_ROLES = ("input", "output")
_links = (
    sa.select(task_models.c.task_id, task_models.c.model_id, task_models.c.role, task_models.c.name)
    .where(task_models.c.task_id == sa.bindparam("task_id"))
    .order_by(task_models.c.id)
)


def put(conn: sa.Connection, model: ModelRecord) -> ModelRecord:
    """Insert or replace the model `model.id`."""
    if not isinstance(model.tags, (list, tuple)) or not all(isinstance(t, str) for t in model.tags):
        raise ValidationError(f"model {model.id}: tags must be a list of strings, got {model.tags!r}")
    if not isinstance(model.labels, dict):
        raise ValidationError(f"model {model.id}: labels must be a dict of name -> int")
    row = {name: getattr(model, name) for name in FIELDS}
    bounds.check(models, row, f"model {bounds.short(model.id)}", dialect=conn.dialect.name)
    row["tags"] = list(model.tags)
    try:
        conn.execute(upsert(conn, models, ("id",), FIELDS), row)
    except exc.IntegrityError as error:
        if is_foreign_key_error(error):
            raise NotFound(
                f"model {model.id}: project {model.project} or task {model.task_id} not found"
            ) from error
        raise
    return dataclasses.replace(model, tags=list(model.tags))


def get(conn: sa.Connection, model_id: str) -> ModelRecord:
    row = conn.execute(_by_id, {"id": model_id}).first()
    if row is None:
        raise NotFound(f"model {model_id} not found")
    return ModelRecord(*row)


def query(
    conn: sa.Connection, *, project: str | None, name: str | None, tags: Sequence[str] | None
) -> list[ModelRecord]:
    stmt = sa.select(*_columns)
    if project is not None:
        stmt = stmt.where(models.c.project == project)
    if name is not None:
        stmt = stmt.where(models.c.name == name)
    for tag in tags or ():
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql  # only PostgreSQL pays for its dialect

            stmt = stmt.where(sa.type_coerce(models.c.tags, postgresql.JSONB).contains([tag]))
        else:
            each = sa.func.json_each(models.c.tags).table_valued("value")
            stmt = stmt.where(sa.exists(sa.select(1).select_from(each).where(each.c.value == tag)))
    stmt = stmt.order_by(models.c.created.desc(), models.c.id)
    return [ModelRecord(*row) for row in conn.execute(stmt)]


def attach(conn: sa.Connection, link: TaskModel) -> None:
    """Link a model to a task; the same (role, name) again points it at the new model.

    An unnamed link takes the model's name, so `task.models["input"]` can list it by name.
    """
    if link.role not in _ROLES:
        raise ValidationError(
            f"task {link.task_id}: model role must be 'input' or 'output', got {link.role!r}"
        )
    bounds.check_record(task_models, link, f"task {bounds.short(link.task_id)}: model link")
    model = get(conn, link.model_id)
    touch_writable_task(conn, link.task_id)
    row = {
        "task_id": link.task_id,
        "model_id": link.model_id,
        "role": link.role,
        "name": link.name or model.name or model.id,
    }
    conn.execute(upsert(conn, task_models, ("task_id", "role", "name"), row.keys()), row)


def rename_link(conn: sa.Connection, link: TaskModel, name: str) -> None:
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
    bounds.check_record(task_models, link, where)
    bounds.check_record(task_models, renamed, where)
    if not name:
        raise ValidationError(f"{where}: the new name must not be empty")
    touch_writable_task(conn, link.task_id)
    same = (task_models.c.task_id == link.task_id) & (task_models.c.role == link.role)
    mine = same & (task_models.c.model_id == link.model_id)
    found = conn.execute(sa.select(task_models.c.id).where(mine & (task_models.c.name == link.name))).scalar()
    if found is None:
        if conn.execute(sa.select(task_models.c.id).where(mine & (task_models.c.name == name))).first():
            return  # renamed already (a repeated request): done
        raise NotFound(f"task {link.task_id} has no {link.role} model {link.model_id} named {link.name!r}")
    if name == link.name:
        return
    conn.execute(sa.delete(task_models).where(same & (task_models.c.name == name)))
    conn.execute(sa.update(task_models).where(task_models.c.id == found).values(name=name))


def links(conn: sa.Connection, task_id: str) -> list[TaskModel]:
    result = [TaskModel(*row) for row in conn.execute(_links, {"task_id": task_id})]
    if not result:
        require_task(conn, task_id)
    return result
