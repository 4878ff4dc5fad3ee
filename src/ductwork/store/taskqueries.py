"""Task queries: a `TaskQuery`'s filters checked against what the store can compare, as SQL."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from ductwork.core.errors import ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import TaskRecord
from ductwork.store import bounds
from ductwork.store.projects import check_name
from ductwork.store.tables import (
    projects,
    tasks,
)
from ductwork.store.tasks import COLUMNS, FIELDS, record


def _check_query(q: TaskQuery) -> None:
    """Every filter within what the store can compare (one bad value is a 422, not a driver error)."""
    bounds.page(q.limit, q.offset, what="task query")
    for name in ("ids", "status", "type", "tags", "system_tags"):
        value = getattr(q, name)
        if value is not None:
            bounds.strings(value, f"task query: {name}", 1024)
    for name in ("id_prefix", "project", "project_name", "name", "name_pattern", "parent", "order_by"):
        value = getattr(q, name)
        if value is not None:
            bounds.text(value, f"task query: {name}", 4096)
    if q.runtime is not None:
        if not isinstance(q.runtime, dict) or len(q.runtime) > bounds.MAX_LIST:
            raise ValidationError("task query: runtime must be a dict of a few properties")
        for key, value in q.runtime.items():
            bounds.text(key, "task query: runtime key", 512)
            if isinstance(value, int) and not isinstance(value, bool):
                bounds.integer(value, f"task query: runtime {bounds.short(key)}")
            elif isinstance(value, str):
                bounds.text(value, f"task query: runtime {bounds.short(key)}")
            elif isinstance(value, float):
                bounds.number(value, f"task query: runtime {bounds.short(key)}")


def _where(conn: sa.Connection, q: TaskQuery) -> list[sa.ColumnElement[bool]]:
    _check_query(q)
    where: list[sa.ColumnElement[bool]] = []
    if q.ids is not None:
        where.append(tasks.c.id.in_(q.ids))
    if q.id_prefix is not None:  # the CLI's unique id prefixes
        where.append(tasks.c.id.startswith(q.id_prefix, autoescape=True))
    if q.project is not None:
        where.append(tasks.c.project == q.project)
    if q.project_name is not None:
        name = check_name(q.project_name)
        match = projects.c.name == name
        if q.include_subprojects:
            match = match | projects.c.name.startswith(name + "/", autoescape=True)
        where.append(tasks.c.project.in_(sa.select(projects.c.id).where(match)))
    if q.name is not None:
        where.append(tasks.c.name == q.name)
    if q.name_pattern is not None:
        try:
            re.compile(q.name_pattern)
        except re.error as error:
            raise ValidationError(f"name_pattern {q.name_pattern!r} is not a valid regex: {error}") from error
        where.append(tasks.c.name.regexp_match(q.name_pattern))
    if q.status is not None:
        where.append(tasks.c.status.in_(q.status))
    if q.type is not None:
        where.append(tasks.c.type.in_(q.type))
    if q.parent is not None:
        where.append(tasks.c.parent == q.parent)
    if q.archived is not None:
        where.append(tasks.c.archived.is_(q.archived))
    for column, wanted in ((tasks.c.tags, q.tags), (tasks.c.system_tags, q.system_tags)):
        for tag in wanted or ():
            if tag.startswith("-"):
                where.append(sa.not_(_has_tag(conn, column, tag[1:])))
            else:
                where.append(_has_tag(conn, column, tag))
    for key, value in (q.runtime or {}).items():
        where.append(_runtime_equals(key, value))
    return where


def _has_tag(conn: sa.Connection, column: sa.Column[Any], tag: str) -> sa.ColumnElement[bool]:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # only PostgreSQL pays for its dialect

        return sa.type_coerce(column, postgresql.JSONB).contains([tag])
    each = sa.func.json_each(column).table_valued("value")
    return sa.exists(sa.select(1).select_from(each).where(each.c.value == tag))


def _runtime_equals(key: str, value: Any) -> sa.ColumnElement[bool]:
    if key == "cache_key" and isinstance(value, str):
        return tasks.c.cache_key == value
    field: Any = tasks.c.runtime[key]
    condition: sa.ColumnElement[bool]
    if value is None:
        condition = field.as_string().is_(None)
    elif isinstance(value, bool):
        condition = field.as_boolean() == value
    elif isinstance(value, int):
        condition = field.as_integer() == value
    elif isinstance(value, float):
        condition = field.as_float() == value
    elif isinstance(value, str):
        condition = field.as_string() == value
    else:
        raise ValidationError(f"runtime filter {key!r}: only str, int, float, bool or None, got {value!r}")
    return condition


def _order(order_by: str) -> sa.ColumnElement[Any]:
    name = order_by.lstrip("-+")
    if name not in FIELDS:
        raise ValidationError(f"cannot order tasks by {order_by!r}; use one of {', '.join(FIELDS)}")
    column = tasks.c[name]
    return column.desc() if order_by.startswith("-") else column.asc()


def query(conn: sa.Connection, q: TaskQuery) -> list[TaskRecord]:
    stmt = sa.select(*COLUMNS).where(*_where(conn, q)).order_by(_order(q.order_by), tasks.c.id)
    if q.limit is not None:
        stmt = stmt.limit(q.limit)
    if q.offset:
        stmt = stmt.offset(q.offset)
    return [record(row) for row in conn.execute(stmt)]


def count(conn: sa.Connection, q: TaskQuery) -> int:
    stmt = sa.select(sa.func.count()).select_from(tasks).where(*_where(conn, q))
    return int(conn.execute(stmt).scalar_one())
